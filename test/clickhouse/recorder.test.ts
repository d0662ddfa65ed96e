import t from 'tap'
import { RECORDER, startRecorder } from '../../src/clickhouse/recorder.ts'
import type { EventRow } from '../../src/clickhouse/rows.ts'
import { createBatchWriter } from '../../src/clickhouse/writer.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { count, openTestClickHouse } from '../fixtures/clickhouse.ts'
import { eventually, startTestFabric } from '../fixtures/fabric.ts'
import { pipelineConsumer } from '../fixtures/runtime.ts'

t.setTimeout(120_000)

const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: rec, uses: test.record }
`
const MiB = 1024 * 1024

t.test('ClickHouse down: the recorder holds at most its byte budget plus one pull, not max_ack_pending events; all land after', async (t) => {
  // the node here runs no ClickHouse: this test's recorder is the only one
  const f = await startTestFabric(t, PIPELINE)
  const ch = await openTestClickHouse(t)
  await ch.client.command({ query: `DETACH TABLE ${ch.table('omni_events')}` })
  const writer = createBatchWriter<EventRow>(ch, { table: 'omni_events', flushMs: 10, backoffMs: { first: 20, max: 100 }, closeTimeoutMs: 300 })
  const recorder = await startRecorder({ js: f.fabric.js, jsm: f.fabric.jsm, publisher: f.fabric.publisher, writer, pipelines: () => [], maxHeldBytes: MiB, ackWaitMs: 2000 })
  t.teardown(async () => {
    await recorder.close()
    await writer.close()
  })
  // 40 events of ≈ 100 KB: 4 MB, far under max_ack_pending (4096) by count
  const text = 'x'.repeat(100_000)
  await Promise.all(Array.from({ length: 40 }, (_, i) => publishEvent(f.fabric.publisher, f.fabric.catalog(), { type: 'note.created', data: { noteId: `b${i}`, text } })))
  let most = 0
  const until = Date.now() + 2000
  while (Date.now() < until) {
    most = Math.max(most, recorder.stats().heldBytes)
    await new Promise((r) => setTimeout(r, 20))
  }
  // a pull asks for max(1 MiB + 64 KiB, budget / 4); what arrives past the budget is one pull at most
  t.ok(most > 0 && most <= MiB + (MiB + 64 * 1024) + 110_000, `held at most ${most} bytes while ClickHouse was down`)
  t.ok((await pipelineConsumer(f.fabric.jsm, RECORDER)).num_ack_pending < 40, 'and left the rest in the stream')
  t.equal(recorder.stats().recorded, 0, 'nothing recorded (nor acknowledged) meanwhile')

  await ch.client.command({ query: `ATTACH TABLE ${ch.table('omni_events')}` })
  // what a pull still delivered after the recorder stopped pulling comes back after ack_wait
  t.ok(await eventually(async () => recorder.stats().recorded === 40, 20_000), `all 40 recorded after recovery (${recorder.stats().recorded})`)
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_events')} FINAL`), 40, 'once each')
  t.equal(recorder.stats().heldBytes, 0, 'and nothing is held any more')
})
