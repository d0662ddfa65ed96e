import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { listDeadLetters, redriveDeadLetters } from '../../src/jetstream/dlq.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { ADDITIVE_STAGE_HEADER, decodeKeyOrigin, EMITTED_BY_HEADER, NATS_HEADERS, outputMsgId } from '../../src/wire/mod.ts'
import { eventually, readSubject, startTestFabric, storedOn } from '../fixtures/fabric.ts'
import { broken } from '../fixtures/test-cartridges.ts'

const OUT = 'omni.evt.test.note-seen.v1'
const pipeline = (stages: string, extra = '') => `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 3, backoff: [50ms, 100ms] }
${extra}stages:
${stages}
outputs:
  - subject: ${OUT}
`

t.test('a duplicate inside the window is stored and processed once', async (t) => {
  const { fabric, settled } = await startTestFabric(t, pipeline('  - { id: rec, uses: test.record }'))
  const catalog = fabric.catalog()
  const first = await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: 'n1' } })
  const again = await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: 'n1', text: 'same key' } })
  t.equal(first.ack.duplicate, false)
  t.equal(again.ack.duplicate, true)
  t.equal(again.ack.seq, first.ack.seq, 'the duplicate reports the original sequence')
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, OUT)) === 1))
  await new Promise((r) => setTimeout(r, 300))
  t.equal(await storedOn(fabric.jsm, 'omni.evt.test.note-created.v1'), 1)
  t.equal(settled.filter((s) => s.type === 'acked').length, 1)
  const output = await fabric.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: OUT })
  t.equal(output?.header.get(EMITTED_BY_HEADER), 'notes', 'an output names the pipeline that emitted it')
  t.equal(output?.header.get(NATS_HEADERS.msgId), outputMsgId(first.event.tenant, first.event.idempotencykey, 'notes', OUT))
})

t.test('a duplicate after the window is caught by guard.dedup (KV with TTL)', async (t) => {
  const { fabric, settled } = await startTestFabric(t, pipeline('  - { id: dedup, uses: guard.dedup }'), { duplicateWindowMs: 500 })
  const catalog = fabric.catalog()
  await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: 'late' } })
  t.ok(await eventually(() => settled.length === 1))
  await new Promise((r) => setTimeout(r, 800))
  const late = await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: 'late' } })
  t.equal(late.ack.duplicate, false, 'outside the window the stream stores it again')
  t.ok(await eventually(() => settled.length === 2))
  t.match(settled[1], { type: 'acked', outcome: { type: 'dropped', stage: 'dedup', reason: /duplicate/ } })
  t.equal(await storedOn(fabric.jsm, OUT), 1, 'only the first produced an output')
})

t.test('a transient failure is nak-ed, redelivered and then succeeds once', async (t) => {
  const { fabric, settled } = await startTestFabric(t, pipeline('  - { id: flaky, uses: test.flaky }'))
  await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'n2', fail: 2 } })
  t.ok(await eventually(() => settled.some((s) => s.type === 'acked')))
  t.match(settled, [
    { type: 'retry', attempt: 1, delayMs: 50, stage: 'flaky' },
    { type: 'retry', attempt: 2, delayMs: 100, stage: 'flaky' },
    { type: 'acked', outcome: { type: 'done', labels: { flakyAttempt: 3 } } },
  ])
  t.equal(await storedOn(fabric.jsm, OUT), 1)
})

t.test('after the maximum deliveries an event is dead-lettered with its metadata; redrive is idempotent', async (t) => {
  const { fabric, settled } = await startTestFabric(t, pipeline('  - { id: fragile, uses: test.broken }'))
  const catalog = fabric.catalog()
  broken.add('bad')
  t.teardown(() => broken.delete('bad'))
  const bad = await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: 'bad' } })
  await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: 'good' } })
  t.ok(await eventually(() => settled.some((s) => s.type === 'dead-lettered')))
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, OUT)) === 1), 'the good event was not held up by the bad one')
  t.match(
    settled.filter((s) => s.type !== 'acked'),
    [{ type: 'retry', attempt: 1 }, { type: 'retry', attempt: 2 }, { type: 'dead-lettered', attempt: 3, stage: 'fragile' }],
  )

  const letters = await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes' })
  t.equal(letters.length, 1)
  t.match(letters[0], { pipeline: 'notes', stage: 'fragile', attempts: 3, originalSubject: 'omni.evt.test.note-created.v1', originalSeq: bad.ack.seq, type: 'note.created', error: /note bad is broken/ })
  t.same(await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes', stage: 'other' }), [], 'filters apply')
  t.same(await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes', limit: 0 }), [], 'limit applies')

  // the fix is deployed; a redrive that crashed after publishing but before removing the letter
  // is simulated by publishing its redrive message by hand first
  broken.delete('bad')
  const letter = letters[0] as (typeof letters)[number]
  await fabric.publisher.publish('omni.redrive.notes', letter.data, { msgID: `redrive:notes:${letter.seq}` })
  const result = await redriveDeadLetters(fabric.jsm, fabric.js, fabric.publisher, { pipeline: 'notes' }, { isRunning: () => true })
  t.same({ redriven: result.redriven, duplicates: result.duplicates, sent: result.letters.length }, { redriven: 0, duplicates: 1, sent: 1 }, 'the interrupted redrive is recognised, not sent twice')
  t.same(await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes' }), [], 'redriven letters leave the DLQ')
  t.same(await redriveDeadLetters(fabric.jsm, fabric.js, fabric.publisher, { pipeline: 'notes' }, { isRunning: () => true }), { redriven: 0, duplicates: 0, letters: [] }, 'running it again redrives nothing')
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, OUT)) === 2), 'the redriven event went through its pipeline')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(await storedOn(fabric.jsm, 'omni.redrive.notes'), 1, 'one redrive message')
  t.equal(await storedOn(fabric.jsm, OUT), 2, 'and one output for it')
})

t.test('an event that is not a valid envelope goes straight to the dead letters', async (t) => {
  const { fabric, settled } = await startTestFabric(t, pipeline('  - { id: rec, uses: test.record }'))
  await fabric.publisher.publish('omni.evt.test.note-created.v1', new TextEncoder().encode('{"type":"note.created"}'), { msgID: 'raw-1' })
  await fabric.publisher.publish('omni.evt.test.note-created.v1', new TextEncoder().encode('not json'), { msgID: 'raw-2' })
  t.ok(await eventually(() => settled.filter((s) => s.type === 'dead-lettered').length === 2))
  const letters = await listDeadLetters(fabric.jsm, fabric.js, {})
  t.match(letters, [{ stage: 'decode', attempts: 1, error: /OMNI_ERR_EVENT_INVALID: invalid event envelope; \$\.specversion: is required/ }, { stage: 'decode', error: /JSON/ }])
})

t.test('every event gets exactly one output, carrying the transformed event', async (t) => {
  const { fabric } = await startTestFabric(t, pipeline('  - { id: enrich, uses: transform.enrich, with: { set: { seen: true } } }'))
  for (let i = 0; i < 50; i++) await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: `m${i}` } })
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, OUT)) === 50))
  const outs = await readSubject(fabric, OUT)
  t.equal(new Set(outs.map((o) => (o['data'] as { noteId: string }).noteId)).size, 50)
  t.ok(outs.every((o) => (o['data'] as { seen?: boolean }).seen === true))
})

t.test('a failing after-commit hook does not run the event again once its outputs are durable', async (t) => {
  const { fabric, settled } = await startTestFabric(t, pipeline('  - { id: hook, uses: test.failing_hook }'))
  await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'h1' } })
  t.ok(await eventually(() => settled.length === 1))
  await new Promise((r) => setTimeout(r, 2500))
  t.match(settled, [{ type: 'acked' }], 'acknowledged once, never retried')
  t.equal(await storedOn(fabric.jsm, OUT), 1)
})


t.test('an additive (alpha) stage emitting onto an approved output subject with the source key cannot displace the approved copy', async (t) => {
  const SEEN = 'omni.evt.test.note-seen.v1'
  const { fabric, settled } = await startTestFabric(
    t,
    `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: shadow, uses: test.alpha_shadow, with: { subject: ${SEEN} } }
outputs:
  - subject: ${SEEN}
    transform: [{ uses: transform.redact, with: { paths: [text] } }]
`,
  )
  await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'n1', text: 'secret' } })
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, SEEN)) === 2), 'the approved output and the emission are both stored')
  const copies = await readSubject(fabric, SEEN)
  t.ok(copies.some((c) => (c['data'] as { text?: string; shadow?: boolean }).shadow === undefined && (c['data'] as { text?: string }).text !== 'secret'), 'the approved, redacted copy is there')
  const approved = await fabric.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: SEEN }).catch(() => null)
  t.match(approved?.header?.get(NATS_HEADERS.msgId), /^(out|emit):/, 'every stored copy has an id of its own namespace')
  // downstream, a pipeline reading the emission keys it in the stage's namespace, never as an approved output
  const emission = (await fabric.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: SEEN }))?.header
  t.match(emission?.get(NATS_HEADERS.msgId), /^emit:/, 'the additive emission is stored after the approved output')
  t.equal(emission?.get(ADDITIVE_STAGE_HEADER), 'shadow', 'it names its additive stage')
  t.equal(decodeKeyOrigin(emission), 'emit:notes:shadow', "so a pipeline reading it keys it apart from the approved output's out:notes")

  // an emission too large for the stream is the alpha stage's failure, never the event's
  const second = await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'n2', text: 'hi', huge: true } })
  t.ok(await eventually(() => settled.some((s) => s.type === 'acked' && s.seq === second.ack.seq)), 'the event is acknowledged, not dead-lettered')
  const acked = settled.find((s) => s.type === 'acked' && s.seq === second.ack.seq)
  t.match(acked?.type === 'acked' ? acked.outcome.outcomes : [], [{ stage: 'shadow', type: 'failed', error: /its emission to omni\.evt\.test\.note-seen\.v1 was not stored: .*more than the/ }])
  t.notOk(settled.some((s) => s.type === 'dead-lettered'), 'nothing was dead-lettered')
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, SEEN)) === 3), "n2's approved output is stored")
})
