import t from 'tap'
import {
  COMMAND_SUBJECT_PATTERN,
  dlqSubject,
  EVENT_SUBJECT_PATTERN,
  EVENT_SUBJECTS,
  eventSubject,
  formatSubject,
  LIVE_FILTER_RE,
  parseSubject,
  rawSubject,
  redriveSubject,
  SOURCE_PATTERN,
  SUBJECT_RE,
  subjectsOverlap,
} from '../../src/wire/mod.ts'

t.test('a subject is built from its parts and read back into them', async (t) => {
  const parts = { kind: 'cmd', producer: 'agent', event: 'reply', version: 2 } as const
  t.equal(formatSubject(parts), 'omni.cmd.agent.reply.v2')
  t.same(parseSubject('omni.cmd.agent.reply.v2'), parts)
  t.equal(eventSubject('ingest', 'message.received', 1), 'omni.evt.ingest.message-received.v1', 'dots of the type become dashes')
  t.same(parseSubject(eventSubject('ingest', 'message.received', 12)), { kind: 'evt', producer: 'ingest', event: 'message-received', version: 12 })
})

t.test('only concrete omni.{evt|cmd}.{producer}.{event}.v{n} subjects follow the grammar', async (t) => {
  for (const bad of ['omni.evt.>', 'omni.evt.a.b', 'omni.evt.a.b.1', 'omni.raw.a.b.v1', 'omni.evt.A.b.v1', 'omni.evt.a.b.c.v1', 'x.evt.a.b.v1']) {
    t.notOk(SUBJECT_RE.test(bad), bad)
    t.equal(parseSubject(bad), undefined, bad)
  }
  t.ok(new RegExp(EVENT_SUBJECT_PATTERN).test('omni.evt.a.b.v1'))
  t.notOk(new RegExp(EVENT_SUBJECT_PATTERN).test('omni.cmd.a.b.v1'), 'an event subject is not a command subject')
  t.ok(new RegExp(COMMAND_SUBJECT_PATTERN).test('omni.cmd.a.b.v1'))
  t.notOk(new RegExp(COMMAND_SUBJECT_PATTERN).test('omni.evt.a.b.v1'))
})

t.test('pipeline sources and live filters', async (t) => {
  const source = new RegExp(SOURCE_PATTERN)
  t.ok(source.test('omni.evt.>'))
  t.ok(source.test('omni.evt.*.message-received.v1'))
  t.notOk(source.test('omni'), 'a source names more than the root')
  t.ok(LIVE_FILTER_RE.test('omni.evt.>'))
  t.ok(LIVE_FILTER_RE.test('omni.cmd.*.reply.v1'))
  t.notOk(LIVE_FILTER_RE.test('omni.redrive.>'), 'redrive copies are not live')
  t.notOk(LIVE_FILTER_RE.test('omni.evt.>.x'), '> only ends a filter')
})

t.test('service subjects', async (t) => {
  t.same(EVENT_SUBJECTS, ['omni.evt.>', 'omni.cmd.>', 'omni.redrive.>', 'omni.rcv.>'])
  t.equal(dlqSubject('notes'), 'omni.dlq.notes')
  t.equal(redriveSubject('notes'), 'omni.redrive.notes')
  t.equal(rawSubject('whats.app', 'phone 1/*>'), 'omni.raw.whats_app.phone_1___', 'unsafe characters cannot split or wildcard a token')
  t.equal(rawSubject('', 'ok-1_A'), 'omni.raw._.ok-1_A', 'an empty name is still a token')
})

t.test('subjectsOverlap: whether some subject matches both patterns', async (t) => {
  t.ok(subjectsOverlap('omni.evt.>', 'omni.evt.ingest.x.v1'))
  t.ok(subjectsOverlap('omni.evt.*.x.v1', 'omni.evt.ingest.*.v1'))
  t.ok(subjectsOverlap('omni.evt.a', 'omni.evt.a'))
  t.notOk(subjectsOverlap('omni.evt.>', 'omni.evt'), '> needs at least one more token')
  t.notOk(subjectsOverlap('omni.evt.a', 'omni.evt.a.b'), 'different lengths without >')
  t.notOk(subjectsOverlap('omni.evt.a', 'omni.cmd.a'))
})
