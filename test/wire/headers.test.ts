import t from 'tap'
import {
  decodeDeadLetter,
  decodeEmittedBy,
  decodeOrigin,
  decodeOriginalSubject,
  DLQ_HEADERS,
  EMITTED_BY_HEADER,
  encodeDeadLetter,
  encodeEmittedBy,
  encodeOrigin,
  type HeaderMap,
  type HeaderReader,
  carriedKeyOrigin,
  CLIENT_ORIGIN,
  decodeIngestOrigin,
  ADDITIVE_STAGE_HEADER,
  decodeKeyOrigin,
  encodeIngestOrigin,
  INGEST_ORIGIN_HEADER,
  outputWithOrigin,
  webhookOrigin,
} from '../../src/wire/mod.ts'

/** Reads a header map the way NATS headers answer: '' for a missing header. */
const reader = (h: HeaderMap): HeaderReader => ({ get: (k) => h[k] ?? '' })

t.test('emitted-by: set on outputs, absent on ingested events', async (t) => {
  t.same(encodeEmittedBy('notes'), { [EMITTED_BY_HEADER]: 'notes' })
  t.equal(EMITTED_BY_HEADER, 'Omni-Emitted-By')
  t.equal(decodeEmittedBy(reader(encodeEmittedBy('notes'))), 'notes')
  t.equal(decodeEmittedBy(reader({})), '')
  t.equal(decodeEmittedBy(undefined), '', 'a message without headers')
})

t.test('origin: a copy names where it came from, an original names itself', async (t) => {
  const copy = reader(encodeOrigin({ subject: 'omni.evt.a.b.v1', seq: 42 }))
  t.same(decodeOrigin(copy, { subject: 'omni.redrive.notes', seq: 7 }), { subject: 'omni.evt.a.b.v1', seq: 42 })
  t.equal(decodeOriginalSubject(copy, 'omni.redrive.notes'), 'omni.evt.a.b.v1')
  t.same(decodeOrigin(reader({}), { subject: 'omni.evt.a.b.v1', seq: 7 }), { subject: 'omni.evt.a.b.v1', seq: 7 })
  t.same(decodeOrigin(undefined, { subject: 's', seq: 1 }), { subject: 's', seq: 1 })
})

t.test('dead-letter metadata round-trips; the error is kept to one line of at most 1024 characters', async (t) => {
  const meta = { pipeline: 'notes', stage: 'enrich', error: 'boom', attempts: 3, originalSubject: 'omni.evt.a.b.v1', originalSeq: 9, failedAt: '2026-01-01T00:00:00.000Z' }
  const h = encodeDeadLetter(meta)
  t.same(h, {
    'Omni-Pipeline': 'notes',
    'Omni-Stage': 'enrich',
    'Omni-Error': 'boom',
    'Omni-Attempts': '3',
    'Omni-Original-Subject': 'omni.evt.a.b.v1',
    'Omni-Original-Seq': '9',
    'Omni-Failed-At': '2026-01-01T00:00:00.000Z',
  })
  t.same(decodeDeadLetter(reader(h)), meta)
  const long = encodeDeadLetter({ ...meta, error: `line one\r\nline two\n${'x'.repeat(2000)}` })[DLQ_HEADERS.error] ?? ''
  t.equal(long.length, 1024)
  t.ok(long.startsWith('line one line two x'))
  t.same(decodeDeadLetter(undefined), { pipeline: '', stage: '', error: '', attempts: 0, originalSubject: '', originalSeq: 0, failedAt: '' }, 'missing headers read as empty')
})

t.test('key origin: an output is its pipeline\'s, an ingested event its way in\'s, and a copy keeps it', async (t) => {
  t.equal(decodeKeyOrigin(reader(encodeEmittedBy('relay'))), 'out:relay')
  t.equal(decodeKeyOrigin(reader(encodeIngestOrigin(webhookOrigin('evolution', 'phone-1')))), 'webhook:evolution:phone-1')
  t.equal(decodeKeyOrigin(reader(encodeIngestOrigin(CLIENT_ORIGIN))), 'client')
  t.equal(decodeKeyOrigin(undefined), 'client', 'a producer on NATS that names none counts as a client')
  // the emitter comes first: an output's ingest-origin header (its source's, forwarded by the
  // host) only narrows the pipeline's namespace, so a chained pipeline keeps two origins apart
  t.equal(decodeKeyOrigin(reader({ ...encodeEmittedBy('relay'), [INGEST_ORIGIN_HEADER]: 'webhook:x:y' })), 'out:relay:webhook:x:y')
  t.equal(decodeKeyOrigin(reader({ ...encodeEmittedBy('relay'), [INGEST_ORIGIN_HEADER]: 'client' })), 'out:relay', "a client's output keeps the namespace it had")
  t.equal(decodeKeyOrigin(reader({ ...encodeEmittedBy('relay'), [ADDITIVE_STAGE_HEADER]: 'shadow' })), 'emit:relay:shadow', "an additive stage's emission is never keyed as the pipeline's approved output")
  t.equal(decodeKeyOrigin(reader({ ...encodeEmittedBy('relay'), [ADDITIVE_STAGE_HEADER]: 'shadow', [INGEST_ORIGIN_HEADER]: 'webhook:x:y' })), 'emit:relay:shadow:webhook:x:y')
  const dead = reader({ ...encodeDeadLetter({ pipeline: 'p', stage: 's', error: 'e', attempts: 1, originalSubject: 'omni.evt.a.b.v1', originalSeq: 1, failedAt: 'now' }), ...carriedKeyOrigin(reader(encodeIngestOrigin('webhook:e:i'))) })
  t.same(carriedKeyOrigin(dead), { [INGEST_ORIGIN_HEADER]: 'webhook:e:i' }, 'a dead letter carries the origin to its redrive')
})

t.test('ingest origin: an output carries its source\'s, so omni_events records the two apart', async (t) => {
  const webhook = reader(encodeIngestOrigin(webhookOrigin('evolution', 'phone-1')))
  t.same(outputWithOrigin(encodeEmittedBy('archive'), webhook), { [EMITTED_BY_HEADER]: 'archive', [INGEST_ORIGIN_HEADER]: 'webhook:evolution:phone-1' })
  t.same(outputWithOrigin(encodeEmittedBy('archive'), reader({})), { [EMITTED_BY_HEADER]: 'archive' }, "a client's event names none: client is the default")
  t.equal(decodeIngestOrigin(reader(outputWithOrigin(encodeEmittedBy('archive'), webhook))), 'webhook:evolution:phone-1')
  t.equal(decodeIngestOrigin(reader({})), 'client')
  t.equal(decodeIngestOrigin(undefined), 'client')
  // the output's own key namespace is its pipeline's, narrowed by that origin
  t.equal(decodeKeyOrigin(reader(outputWithOrigin(encodeEmittedBy('archive'), webhook))), 'out:archive:webhook:evolution:phone-1')
  t.equal(decodeKeyOrigin(reader(outputWithOrigin(encodeEmittedBy('archive'), reader({})))), 'out:archive')
})
