import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { RECORDER } from '../../src/clickhouse/recorder.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { openClickHouse, type ClickHouse } from '../../src/clickhouse/client.ts'
import { count, rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually, startTestFabric, type TestFabric } from '../fixtures/fabric.ts'
import { pipelineConsumer } from '../fixtures/runtime.ts'

t.setTimeout(120_000)

const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 3, backoff: [50ms] }
stages:
  - { id: flaky, uses: test.flaky }
  - { id: enrich, uses: test.record, needs: [flaky] }
outputs:
  - subject: ${OUT}
`

async function start(t: Test, opts: Parameters<typeof startTestFabric>[2] = {}): Promise<TestFabric & { ch: ClickHouse }> {
  const f = await startTestFabric(t, PIPELINE, { clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 20, backoffMs: { first: 20, max: 200 } }, ...opts })
  const ch = f.fabric.sink?.ch
  if (!ch) throw new Error('the fabric did not open ClickHouse')
  return { ...f, ch }
}

async function publishNotes(f: TestFabric, ids: readonly string[], data: (id: string) => Record<string, unknown> = () => ({})) {
  return Promise.all(ids.map((noteId) => publishEvent(f.fabric.publisher, f.fabric.catalog(), { type: 'note.created', data: { noteId, ...data(noteId) } })))
}

const eventsTable = (ch: ClickHouse) => `SELECT * FROM ${ch.table('omni_events')} FINAL`
const outcomesTable = (ch: ClickHouse) => `SELECT * FROM ${ch.table('omni_stage_outcomes')} FINAL`
const ackedCount = (f: TestFabric) => f.settled.filter((s) => s.type === 'acked').length

t.test('every event, every output and every stage outcome lands once; outcomes say ok, retried, dead-lettered', async (t) => {
  const f = await start(t)
  const ids = Array.from({ length: 40 }, (_, i) => `n${i}`)
  const acks = await publishNotes(f, ids, (id) => (id === 'n3' ? { fail: 1 } : id === 'n5' ? { fail: 9 } : {}))
  // 39 reach the output (n5 fails every attempt and is dead-lettered at the third)
  t.ok(await eventually(async () => (await count(f.ch, eventsTable(f.ch))) === 40 + 39 && (await count(f.ch, outcomesTable(f.ch))) === 39 * 2 + 1, 20_000), 'inputs, outputs and outcomes are all recorded')
  const inputs = await rows<{ subject: string; emitted_by: string; pipelines: string[]; stream_seq: string; payload: { noteId: string } }>(f.ch, `${eventsTable(f.ch)} WHERE emitted_by = '' ORDER BY stream_seq`)
  t.equal(inputs.length, 40)
  t.same(inputs[0]?.pipelines, ['notes'], 'the pipelines that map the subject are named')
  t.same(inputs.map((r) => Number(r.stream_seq)), acks.map((a) => a.ack.seq).sort((a, b) => a - b), 'stream sequences recorded')
  t.equal(await count(f.ch, `${eventsTable(f.ch)} WHERE emitted_by = 'notes' AND subject = {s:String}`, { s: OUT }), 39, 'outputs are recorded as emitted by their pipeline')

  const retried = await rows<{ stage: string; status: string; attempt: number }>(f.ch, `SELECT stage, status, attempt FROM ${ch(f).table('omni_stage_outcomes')} FINAL WHERE idempotency_key LIKE '%n3' ORDER BY stage`)
  t.same(retried, [{ stage: 'enrich', status: 'ok', attempt: 2 }, { stage: 'flaky', status: 'ok', attempt: 2 }], 'a retried event keeps its final outcome, with the attempt that made it')
  const dead = await rows<{ stage: string; status: string; attempt: number; error: string; uses: string }>(f.ch, `SELECT stage, status, attempt, error, uses FROM ${ch(f).table('omni_stage_outcomes')} FINAL WHERE idempotency_key LIKE '%n5'`)
  t.match(dead, [{ stage: 'flaky', status: 'dead-lettered', attempt: 3, uses: 'test.flaky', error: /transient failure/ }], 'the dead-lettered stage says so')
  t.equal(ackedCount(f), 39)

  const sink = f.fabric.sink as NonNullable<typeof f.fabric.sink>
  t.same([sink.state, sink.recorder.state, sink.rawRecorder.state], ['running', 'running', 'running'])
  await f.fabric.close()
  t.same([sink.state, sink.recorder.state, sink.rawRecorder.state], ['stopped', 'stopped', 'stopped'], 'closed with the fabric, recorders first')
  await Promise.all([sink.closed(), sink.recorder.closed(), sink.rawRecorder.closed()])
  t.equal(sink.close(), sink.close(), 'close() is one promise')
  await Promise.all([sink[Symbol.asyncDispose](), sink.recorder[Symbol.asyncDispose]()])
})

t.test('a recorder whose consumer stops on its own fails the sink, which stays failed through close()', async (t) => {
  const f = await start(t)
  const sink = f.fabric.sink as NonNullable<typeof f.fabric.sink>
  await f.fabric.nc.close()
  await sink.closed()
  t.equal(sink.state, 'failed')
  t.match(sink.failure, /consumer stopped|closed/, `says why: ${sink.failure}`)
  await f.fabric.close()
  t.equal(sink.state, 'failed', 'close() does not hide the failure')
  t.equal(sink.recorder.state, 'failed')
})

const ch = (f: { ch: ClickHouse }) => f.ch

t.test('forced redelivery after the rows were written: still one row per event and per stage', async (t) => {
  // the first delivery of every event fails right before its ack, after every write
  const f = await start(t, {
    beforeAck: (_consumer, _seq, attempt) => {
      if (attempt === 1) throw new Error('lost before the ack')
    },
  })
  const ids = Array.from({ length: 30 }, (_, i) => `r${i}`)
  await publishNotes(f, ids)
  t.ok(await eventually(() => ackedCount(f) === 30, 20_000), 'every event was acked on its second delivery')
  t.ok(await eventually(async () => (await pipelineConsumer(f.fabric.jsm, RECORDER)).num_ack_pending === 0, 10_000), 'the recorder settled too')
  t.equal(await count(f.ch, eventsTable(f.ch)), 60, '30 inputs + 30 outputs, once each')
  t.equal(await count(f.ch, outcomesTable(f.ch)), 60, 'two stages × 30 events, once each')
  const attempts = await rows<{ a: number }>(f.ch, `SELECT DISTINCT attempt AS a FROM ${f.ch.table('omni_stage_outcomes')} FINAL`)
  t.same(attempts, [{ a: 2 }], 'the outcome kept is the attempt that was acknowledged')
  // the redelivered copies were physically written: the replacing key is what removes them
  await f.ch.client.command({ query: `OPTIMIZE TABLE ${f.ch.table('omni_events')} FINAL` })
  t.equal(await count(f.ch, `SELECT * FROM ${f.ch.table('omni_events')}`), 60, 'after a merge the table holds each row once')
})

t.test('ClickHouse failing: nothing is acknowledged, nothing is lost, everything lands after recovery', async (t) => {
  const f = await start(t)
  await f.ch.client.command({ query: `DETACH TABLE ${f.ch.table('omni_events')}` })
  await f.ch.client.command({ query: `DETACH TABLE ${f.ch.table('omni_stage_outcomes')}` })
  const ids = Array.from({ length: 25 }, (_, i) => `o${i}`)
  await publishNotes(f, ids)
  t.ok(await eventually(async () => (await pipelineConsumer(f.fabric.jsm, 'notes')).num_ack_pending === 25, 10_000), 'the pipeline holds all 25 unacknowledged')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(ackedCount(f), 0, 'no event was acknowledged while its outcome rows could not be written')
  t.ok(f.fabric.sink?.unavailable(), 'the fabric reports ClickHouse unavailable')
  t.equal((await pipelineConsumer(f.fabric.jsm, RECORDER)).num_ack_pending, 50, 'the recorder holds inputs and outputs unacknowledged')
  await f.ch.client.command({ query: `ATTACH TABLE ${f.ch.table('omni_events')}` })
  await f.ch.client.command({ query: `ATTACH TABLE ${f.ch.table('omni_stage_outcomes')}` })
  t.ok(await eventually(() => ackedCount(f) === 25, 20_000), 'all 25 acknowledged after recovery')
  t.ok(await eventually(async () => (await count(f.ch, eventsTable(f.ch))) === 50, 10_000), 'all inputs and outputs recorded')
  t.equal(await count(f.ch, outcomesTable(f.ch)), 50)
  t.notOk(f.fabric.sink?.unavailable())
})

t.test('ClickHouse down: close() ends within a bound, acknowledges nothing, and the next start records everything', async (t) => {
  const config = testClickHouseConfig()
  const f = await start(t, { clickhouse: config, clickhouseWriter: { flushMs: 20, backoffMs: { first: 20, max: 200 }, closeTimeoutMs: 300 } })
  await f.ch.client.command({ query: `DETACH TABLE ${f.ch.table('omni_events')}` })
  await f.ch.client.command({ query: `DETACH TABLE ${f.ch.table('omni_stage_outcomes')}` })
  const ids = Array.from({ length: 10 }, (_, i) => `d${i}`)
  await publishNotes(f, ids)
  t.ok(await eventually(async () => (await pipelineConsumer(f.fabric.jsm, 'notes')).num_ack_pending === 10, 10_000), 'the pipeline holds all 10 unacknowledged')
  t.ok(await eventually(async () => (await pipelineConsumer(f.fabric.jsm, RECORDER)).num_ack_pending === 20, 10_000), 'the recorder holds inputs and outputs')
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([f.fabric.close().then(() => 'closed'), new Promise((r) => (timer = setTimeout(() => r('still waiting'), 15_000)))])
  clearTimeout(timer)
  t.equal(outcome, 'closed', `close() finished in ${Date.now() - started} ms while ClickHouse was down`)
  t.equal(ackedCount(f), 0, 'nothing unwritten was acknowledged')

  // ClickHouse back, the platform started again: the same events come back and land once each
  const admin = await openClickHouse(config)
  // (reopening the engine may attach them itself)
  await admin.client.command({ query: `ATTACH TABLE IF NOT EXISTS ${admin.table('omni_events')}` })
  await admin.client.command({ query: `ATTACH TABLE IF NOT EXISTS ${admin.table('omni_stage_outcomes')}` })
  await admin.close()
  const again = await start(t, { server: f.server, clickhouse: config })
  t.ok(await eventually(() => ackedCount(again) === 10, 20_000), 'all 10 acknowledged after the restart')
  t.ok(await eventually(async () => (await count(again.ch, eventsTable(again.ch))) === 20, 10_000), 'inputs and outputs recorded once each')
  t.equal(await count(again.ch, outcomesTable(again.ch)), 20, 'two outcome rows per event')
})

t.test('an event ClickHouse refuses for its content is dead-lettered alone', async (t) => {
  const f = await start(t)
  await f.ch.client.command({ query: `ALTER TABLE ${f.ch.table('omni_events')} ADD CONSTRAINT no_poison CHECK idempotency_key NOT LIKE '%poison%'` })
  await publishNotes(f, ['p1', 'poison', 'p2', 'p3'])
  t.ok(await eventually(async () => (await count(f.ch, eventsTable(f.ch))) === 6, 20_000), 'the three good events and their outputs are recorded')
  const js = jetstream(f.fabric.nc)
  const jsm = await jetstreamManager(f.fabric.nc)
  let letters: Awaited<ReturnType<typeof listDeadLetters>> = []
  t.ok(await eventually(async () => (letters = await listDeadLetters(jsm, js, { pipeline: RECORDER })).length === 2, 10_000), 'the poisoned input and its output are dead letters')
  t.ok(letters.every((l) => l.stage === 'sink' && /VIOLATED_CONSTRAINT/.test(l.error)), 'each names the sink and the reason')
  t.equal(ackedCount(f), 4, 'the pipeline itself processed all four')
})
