import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { formatTable, type BenchReport } from '../../bench/report.ts'
import { runBench, SCENARIOS } from '../../bench/run.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

// A smoke test: the runner works end to end and reports every scenario. Timing is never checked.

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-bench-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('quick mode on its own managed server reports every scenario with positive rates', async (t) => {
  const jsonPath = join(await tempDir(t), 'bench.json')
  const { jsonPath: written } = await runBench({ quick: true, events: 500, json: jsonPath })
  t.equal(written, jsonPath)
  const report = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchReport
  t.same(report.failures, [], 'no scenario failed')
  for (const s of SCENARIOS) {
    const rows = report.scenarios.filter((r) => r.scenario === s.id)
    t.ok(rows.length > 0, `${s.id} is reported`)
    for (const r of rows) {
      t.ok(r.events > 0 && r.seconds > 0 && r.rate > 0, `${r.id}: ${r.events} events, ${r.rate}/s`)
      t.type(r.notes, 'string')
    }
  }
  const e2e = report.scenarios.find((r) => r.id === 'pipeline-e2e')
  t.equal(e2e?.ratioTo, 'consume', 'the end-to-end rate is compared with the consume ceiling')
  t.ok((e2e?.ratio ?? 0) > 0)
  const lat = report.scenarios.find((r) => r.id === 'latency')?.details['latencyMs'] as { count: number; p50: number; p99: number; max: number }
  t.ok(lat.count > 0 && lat.p50 > 0 && lat.p99 >= lat.p50 && lat.max >= lat.p99, 'latency percentiles are ordered')
  const sinkRows = report.scenarios.filter((r) => r.scenario === 'sink').map((r) => r.id)
  t.same(sinkRows, ['sink.insert', 'sink.insert.full-batches', 'sink.e2e'], 'the sink reports inserts and the end-to-end run with it')
  const insert = report.scenarios.find((r) => r.id === 'sink.insert')?.details as { storedFinal: number; eventLoopStallsMs: { p99: number; max: number }; inserts: { batches: number } }
  t.equal(insert.storedFinal, 500, 'every inserted row is in omni_events, once')
  t.ok(insert.inserts.batches > 0 && insert.eventLoopStallsMs.max >= insert.eventLoopStallsMs.p99, 'inserts and event-loop stalls are reported')
  const sinkE2e = report.scenarios.find((r) => r.id === 'sink.e2e')
  t.equal(sinkE2e?.ratioTo, 'consume', 'the end-to-end rate with the sink is compared with the consume ceiling')
  const sinkDetails = sinkE2e?.details as { expected: number; completed: boolean; ratioToPipelineE2e: number; stored: { events: number; actions: number }; actionRowsWritten: number }
  t.ok(sinkDetails.completed && sinkDetails.ratioToPipelineE2e > 0, 'settled, and compared with pipeline-e2e of the same run')
  t.equal(sinkDetails.stored.events, 2 * sinkDetails.expected, 'omni_events FINAL holds every event and every output, once')
  t.ok(sinkDetails.actionRowsWritten > 0 && sinkDetails.stored.actions === sinkDetails.actionRowsWritten, 'omni_event_actions FINAL holds every outcome row written')
  const over = report.scenarios.find((r) => r.id === 'overload')?.details as { samples: unknown[]; memoryMB: { peakRss: number } }
  t.ok(over.samples.length >= 2 && over.memoryMB.peakRss > 0, 'memory was sampled')
  t.ok(report.machine.cores > 0 && report.machine.node.startsWith('v') && /^\d+\.\d+/.test(report.machine.natsServer))
  t.equal(report.settings.server.managed, true)

  const table = formatTable(report)
  for (const r of report.scenarios) t.match(table, r.title, `the table has a row for ${r.id}`)
  t.match(table, /scenario\s+events\s+seconds\s+events\/s\s+ratio\s+notes/)
})

t.test('on a shared server (--nats) only bench subjects and streams are touched', async (t) => {
  const server = await startTestNats(t, { syncInterval: '1s' })
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm)
  const publisher = createPublisher(nc)
  await publisher.publish('omni.evt.ingest.message-received.v1', new TextEncoder().encode('{"someone":"else"}'))
  await publisher.close()

  const { report, jsonPath } = await runBench({ quick: true, events: 200, natsUrl: server.url, json: false, only: ['consume-ceiling', 'pipeline-e2e', 'sink'] })
  t.equal(jsonPath, undefined, 'json: false writes nothing')
  t.same(report.failures, [])
  t.same([...new Set(report.scenarios.map((r) => r.scenario))], ['consume-ceiling', 'pipeline-e2e', 'sink'], 'only the chosen scenarios ran')
  t.same(
    report.scenarios.filter((r) => r.scenario === 'sink').map((r) => r.id),
    ['sink.insert', 'sink.insert.full-batches'],
    'the sink end to end is skipped: its recorder would share a running fabric\'s consumer',
  )
  t.notOk((await jsm.consumers.list(EVENTS_STREAM).next()).some((c) => c.name.includes('_recorder')), 'no recorder consumer was created')
  t.ok(report.scenarios.every((r) => r.rate > 0))
  t.equal(report.settings.server.managed, false)

  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: '>' })
  t.same(info.state.subjects, { 'omni.evt.ingest.message-received.v1': 1 }, 'the other event is still there; bench events are purged')
  const streams = await jsm.streams.names().next()
  t.same(streams.filter((n) => n.startsWith('BENCH_')), [], 'raw bench streams are removed')
})

t.test('invalid options are reported before anything starts', async (t) => {
  await t.rejects(runBench({ events: 0, json: false }), { code: 'OMNI_ERR_CONFIG' })
  await t.rejects(runBench({ only: ['nope'], json: false }), { code: 'OMNI_ERR_CONFIG' })
})
