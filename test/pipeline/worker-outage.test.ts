// Issue 12, section 2: outputs (and dead letters) are stored exactly once, however long the gap
// between their publish and the event's ack. ClickHouse stays down past the stream's duplicate
// window (lowered here), the platform restarts, the events come back: one of each, never two.
// In its own file: it needs the embedded ClickHouse engine of this process.
import { Kvm } from '@nats-io/kv'
import t from 'tap'
import { openClickHouse } from '../../src/clickhouse/client.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { SETTLED_BUCKET } from '../../src/jetstream/settled-marks.ts'
import { count, testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually, startTestFabric, storedOn, type TestFabric } from '../fixtures/fabric.ts'
import { pipelineConsumer } from '../fixtures/runtime.ts'

t.setTimeout(120_000)

const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 2, backoff: [50ms] }
stages:
  - { id: flaky, uses: test.flaky }
outputs:
  - subject: ${OUT}
`
const WINDOW_MS = 3000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const count$ = (f: TestFabric, type: string) => f.settled.filter((s) => s.type === type).length

t.test('ClickHouse down past the duplicate window, then a restart: each output and each dead letter is stored once', async (t) => {
  const config = testClickHouseConfig()
  const opts = { clickhouse: config, duplicateWindowMs: WINDOW_MS, clickhouseWriter: { flushMs: 20, backoffMs: { first: 20, max: 200 }, closeTimeoutMs: 300 } }
  const first = await startTestFabric(t, PIPELINE, opts)
  const ch = first.fabric.sink?.ch
  if (!ch) throw new Error('no ClickHouse')
  // the outcome rows cannot be written: every event waits after its outputs (or letter) are stored
  await ch.client.command({ query: `DETACH TABLE ${ch.table('omni_stage_outcomes')}` })
  const ids = Array.from({ length: 20 }, (_, i) => `x${i}`)
  // x3 and x7 fail on every attempt: dead-lettered at their second delivery
  await Promise.all(ids.map((noteId) => publishEvent(first.fabric.publisher, first.fabric.catalog(), { type: 'note.created', data: { noteId, ...(noteId === 'x3' || noteId === 'x7' ? { fail: 9 } : {}) } })))
  t.ok(await eventually(async () => (await storedOn(first.fabric.jsm, OUT)) === 18, 10_000), 'the 18 outputs are stored')
  t.ok(await eventually(async () => (await listDeadLetters(first.fabric.jsm, first.fabric.js, { pipeline: 'notes' })).length === 2, 10_000), 'the 2 dead letters are stored')
  t.ok(await eventually(async () => (await pipelineConsumer(first.fabric.jsm, 'notes')).num_ack_pending === 20, 10_000), 'all 20 events wait unacknowledged for their rows')
  // past the duplicate window: from here on the stream would take a repeated id again
  await sleep(WINDOW_MS + 1000)
  const marked = await new Kvm(first.fabric.js).open(SETTLED_BUCKET).then((kv) => kv.status()).then((s) => s.values, () => 0)
  t.equal(marked, 20, 'each waiting event was marked once')
  await first.fabric.close()
  t.equal(count$(first, 'acked') + count$(first, 'dead-lettered'), 0, 'nothing was settled while the rows could not be written')

  // ClickHouse back, the platform restarted: the 20 events are redelivered
  const admin = await openClickHouse(config)
  await admin.client.command({ query: `ATTACH TABLE IF NOT EXISTS ${admin.table('omni_stage_outcomes')}` })
  await admin.close()
  const second = await startTestFabric(t, PIPELINE, { ...opts, server: first.server })
  t.ok(await eventually(() => count$(second, 'acked') === 18 && count$(second, 'dead-lettered') === 2, 20_000), 'the restart settles all 20')
  t.equal(await storedOn(second.fabric.jsm, OUT), 18, 'exactly one output per event in the stream')
  const letters = await listDeadLetters(second.fabric.jsm, second.fabric.js, { pipeline: 'notes' })
  t.equal(letters.length, 2, 'exactly one dead letter per failing event')
  const sch = second.fabric.sink?.ch
  if (!sch) throw new Error('no ClickHouse')
  const outcomes = `SELECT * FROM ${sch.table('omni_stage_outcomes')} FINAL`
  t.equal(await count(sch, outcomes), 20, 'one outcome row per event')
  t.equal(await count(sch, `${outcomes} WHERE status = 'dead-lettered'`), 2, 'the dead-lettered ones say so')
  t.equal(await count(sch, `${outcomes} WHERE attempt = 1 AND status = 'ok'`), 18, 'the rows are those of the delivery that published, not of the redelivery')
})

t.test('a delivery lost between its mark and its ack, redelivered after the window: nothing is published again', async (t) => {
  const config = testClickHouseConfig()
  // the first delivery of every event dies right before its ack, after its rows are written
  const f = await startTestFabric(t, PIPELINE, {
    clickhouse: config,
    duplicateWindowMs: WINDOW_MS,
    clickhouseWriter: { flushMs: 20, backoffMs: { first: 20, max: 200 } },
    beforeAck: (consumer, _seq, attempt) => {
      if (consumer === 'notes' && attempt === 1) throw new Error('lost before the ack')
    },
  })
  const ch = f.fabric.sink?.ch
  if (!ch) throw new Error('no ClickHouse')
  await ch.client.command({ query: `DETACH TABLE ${ch.table('omni_stage_outcomes')}` })
  const ids = Array.from({ length: 10 }, (_, i) => `k${i}`)
  await Promise.all(ids.map((noteId) => publishEvent(f.fabric.publisher, f.fabric.catalog(), { type: 'note.created', data: { noteId } })))
  t.ok(await eventually(async () => (await storedOn(f.fabric.jsm, OUT)) === 10, 10_000), 'the 10 outputs are stored')
  await sleep(WINDOW_MS + 1000)
  await ch.client.command({ query: `ATTACH TABLE ${ch.table('omni_stage_outcomes')}` })
  t.ok(await eventually(() => count$(f, 'acked') === 10, 20_000), 'every event is acknowledged on its redelivery')
  t.equal(await storedOn(f.fabric.jsm, OUT), 10, 'still exactly one output per event')
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_stage_outcomes')} FINAL WHERE attempt = 1`), 10, 'with the rows of the delivery that published')
})
