import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { round } from '../../bench/lib/stats.ts'
import { formatTable, type BenchReport } from '../../bench/report.ts'
import { runBench, SCENARIOS } from '../../bench/run.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

// A smoke test: the runner works end to end and reports every scenario. Timing is never checked.
// The container plugin row runs on the engine scripts/test.sh starts (OMNI_TEST_DOCKER_SOCKET);
// without one it must say it was skipped, and why.
const dockerSocket = process.env['OMNI_TEST_DOCKER_SOCKET'] || undefined
const dockerSkipReason = process.env['OMNI_TEST_DOCKER_SKIP_REASON']

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-bench-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('quick mode on its own managed server reports every scenario with positive rates', async (t) => {
  const jsonPath = join(await tempDir(t), 'bench.json')
  if (!dockerSocket) t.comment(`the container plugin row is skipped: ${dockerSkipReason ?? 'OMNI_TEST_DOCKER_SOCKET is not set'}`)
  const { jsonPath: written } = await runBench({ quick: true, events: 500, json: jsonPath, ...(dockerSocket ? { dockerSocket } : {}) })
  t.equal(written, jsonPath)
  const report = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchReport
  t.same(report.failures, [], 'no scenario failed')
  for (const s of SCENARIOS) {
    const rows = report.scenarios.filter((r) => r.scenario === s.id)
    t.ok(rows.length > 0, `${s.id} is reported`)
    for (const r of rows) {
      t.type(r.notes, 'string')
      if (r.details['skipped'] === true) continue
      t.ok(r.events > 0 && r.seconds > 0 && r.rate > 0, `${r.id}: ${r.events} events, ${r.rate}/s`)
    }
  }
  t.same(
    report.scenarios.map((r) => r.scenario).filter((s, i, all) => all.indexOf(s) === i).slice(-2),
    ['plugins', 'sink'],
    'the plugin stages run just before the sink, which stays last',
  )
  const pluginRows = report.scenarios.filter((r) => r.scenario === 'plugins')
  t.same(
    pluginRows.map((r) => r.id),
    ['plugins.inprocess', 'plugins.isolate', 'plugins.container'],
    'one row per sandbox runtime, in-process first',
  )
  for (const r of pluginRows) {
    if (r.details['skipped'] === true) continue
    const d = r.details as { expected: number; completed: boolean; failures: number; timingsMs: { load: number; firstEvent: number }; crossing: { calls: number; events: number; batch: { max: number } }; outputSample: { upper: boolean }; cleanup: Record<string, unknown> }
    t.ok(d.completed && d.failures === 0 && r.events === d.expected, `${r.id}: every event acked, none retried`)
    t.ok(d.timingsMs.firstEvent >= d.timingsMs.load && d.timingsMs.load >= 0, `${r.id}: time to first event counts from the start of load()`)
    t.ok(d.crossing.events >= d.expected && d.crossing.calls > 0 && d.crossing.batch.max > 1, `${r.id}: events crossed in batches`)
    t.equal(d.outputSample.upper, true, `${r.id}: the plugin ran (the stored output is upper-cased)`)
    t.notOk(Object.values(d.cleanup).some((v) => v === true || (typeof v === 'number' && v > 0)), `${r.id}: nothing was left behind`)
    if (r.id !== 'plugins.inprocess') {
      t.equal(r.ratioTo, 'inprocess plugin stage', `${r.id} is compared with the in-process row`)
      t.match(r.notes, /target ≥ 0\.\d× in-process (met|NOT met); first event \d+ ms \(target ≤ \d s (met|NOT met)\)/, `${r.id}: the targets are printed beside the figures`)
    }
  }
  const container = pluginRows.find((r) => r.id === 'plugins.container')
  if (dockerSocket) {
    t.notOk(container?.details['skipped'], 'with an engine, the container row is measured')
    t.match(container?.details, { image: { ref: /^omni-plugin-node@sha256:[0-9a-f]{64}$/, seconds: Number }, engine: { socket: dockerSocket } }, 'the image build/reuse is in the details')
  } else {
    t.match(container, { events: 0, rate: 0, notes: /^skipped: no Docker engine/, details: { skipped: true, reason: String } }, 'without an engine, the container row says skipped and why, with no figures')
  }
  const httpRows = report.scenarios.filter((r) => r.scenario === 'http-ingest')
  t.same(httpRows.map((r) => r.id), ['http.empty', 'http.hand', 'http.ingest', 'http.webhook'], 'the empty route, the hand-written route, /v1/events and the webhook, measured side by side')
  for (const r of httpRows) {
    const d = r.details as { verified: boolean; non2xx: number; latencyMs: { p50: number; p99: number }; durability: { label: string; accepted: number; stored: number; missing: number }[]; ratioToEmpty?: number; cpuPerRequestUs: { bench: number } }
    t.notOk(r.details['skipped'], `${r.id} is measured on the bench's own server`)
    t.equal(d.verified, true, `${r.id}: no non-2xx, and every 2xx is in JetStream`)
    t.ok(d.latencyMs.p50 >= 0 && d.latencyMs.p99 >= d.latencyMs.p50, `${r.id}: latency percentiles are ordered`)
    t.ok(d.cpuPerRequestUs.bench > 0, `${r.id}: CPU per request is reported`)
    if (r.id === 'http.empty') continue
    t.equal(r.ratioTo, r.id === 'http.hand' ? 'http.empty' : 'http.hand', `${r.id} is compared with ${r.id === 'http.hand' ? 'the empty route' : 'the hand-written route'}`)
    t.ok((r.ratio ?? 0) > 0)
    if (r.id !== 'http.hand') t.ok((d.ratioToEmpty ?? 0) > 0, `${r.id}: the ratio to the empty route is kept in details.ratioToEmpty`)
    t.ok(d.durability.length > 0 && d.durability.every((x) => x.accepted >= r.events && x.missing === 0 && x.stored >= x.accepted), `${r.id}: accepted requests counted in the stream`)
  }
  const hand = httpRows.find((r) => r.id === 'http.hand')
  t.same(
    (hand?.details['durability'] as { label: string }[]).map((x) => x.label),
    ['omni.evt.bench.bench-tick.v1'],
    'the hand-written route stores every accepted request on the bench subject, counted like /v1/events',
  )
  t.equal(hand?.details['statusCodes'] && Object.keys(hand.details['statusCodes'] as object).join(), '202', 'the hand-written route answers 202 and nothing else')
  t.match(httpRows.find((r) => r.id === 'http.ingest')?.notes, /^target ≥ 0\.8× hand-written route (met|MISSED);.*ClickHouse off/, 'the ingest target is printed beside the figures')
  t.match(httpRows.find((r) => r.id === 'http.webhook')?.notes, /^target ≥ 0\.5× hand-written route (met|MISSED);/, 'the webhook target is printed beside the figures')
  t.same(
    (httpRows.find((r) => r.id === 'http.webhook')?.details['durability'] as { label: string }[]).map((x) => x.label),
    ['omni.evt.ingest.message-received.v1', 'omni.raw.whatsapp.bench-1'],
    'each webhook delivery is one message.received event and one raw payload',
  )
  // the hand-written pipeline (issue 15's denominator) settled every event of the same run once
  for (const id of ['pipeline.hand', 'pipeline.hand.js-publish']) {
    const hand = report.scenarios.find((r) => r.id === id)
    const d = hand?.details as { expected: number; completed: boolean; exactlyOnce: boolean; outputsStored: number; outputCheck: { read: number; distinct: number; untransformed: number }; stats: Record<string, number> }
    t.equal(hand?.scenario, 'pipeline-e2e', `${id} is a row of the end-to-end scenario`)
    t.ok(d.completed && d.expected === 500 && hand?.events === 500, `${id}: all 500 events acked`)
    t.equal(d.outputsStored, d.expected, `${id}: the stream holds one output per event`)
    t.same(d.outputCheck, { read: 500, distinct: 500, untransformed: 0 }, `${id}: read back, every output is a different event's, transformed`)
    t.match(d.stats, { failed: 0, poison: 0, lost: 0, refused: 0, inFlight: 0 }, `${id}: nothing failed, nothing left in flight`)
    t.equal(d.exactlyOnce, true)
  }
  const handRate = report.scenarios.find((r) => r.id === 'pipeline.hand')?.rate ?? 0
  for (const id of ['pipeline-e2e', 'pipeline-e2e.single-filter']) {
    const e2e = report.scenarios.find((r) => r.id === id)
    t.equal(e2e?.ratioTo, 'pipeline.hand', `${id} is compared with the hand-written pipeline of the same run`)
    t.equal(e2e?.ratio, round((e2e?.rate ?? 0) / handRate), `${id}: ratio = its rate ÷ the hand-written rate`)
    t.match(e2e?.notes, /^target ≥ 0\.8× hand-written: (met|MISSED);/, `${id}: the target is printed beside the figure`)
    t.ok((e2e?.details['ratioToConsumeCeiling'] as number) > 0, `${id}: the consume-ceiling ratio stays in the details`)
  }
  const bare = report.scenarios.find((r) => r.id === 'pipeline-e2e.no-stages')
  t.equal(bare?.ratioTo, 'pipeline.hand', 'the no-stages diagnostic is divided by the hand-written pipeline too')
  t.match(bare?.notes, /^no target \(not the bench pipeline\)/, 'and says it has no target')
  t.equal(bare?.details['outputsStored'], bare?.details['expected'], 'with no stages every input still makes its output')
  const lat = report.scenarios.find((r) => r.id === 'latency')?.details['latencyMs'] as { count: number; p50: number; p99: number; max: number }
  t.ok(lat.count > 0 && lat.p50 > 0 && lat.p99 >= lat.p50 && lat.max >= lat.p99, 'latency percentiles are ordered')
  const latRow = report.scenarios.find((r) => r.id === 'latency')
  const latRuns = latRow?.details['runs'] as { latencyMs: { p99: number }; gc: { minor: number; major: number; maxMs: number }; loopStallsMs: { max: number } }[]
  t.equal(latRuns.length, 3, 'latency is measured in three consecutive runs')
  t.equal(lat.p99, Math.max(...latRuns.map((r) => r.latencyMs.p99)), 'the row reports the worst run')
  t.equal(latRow?.details['targetMet'], latRuns.every((r) => r.latencyMs.p99 <= 15), 'the target is met only when every run meets it')
  t.ok(latRuns.every((r) => r.gc.minor + r.gc.major >= 0 && r.gc.maxMs >= 0 && r.loopStallsMs.max >= 0), 'each run reports its GC pauses and event-loop stalls')
  t.match(latRow?.notes, /^p99 [\d.]+ \/ [\d.]+ \/ [\d.]+ ms in 3 consecutive runs \(target ≤ 15 ms in each: (met|MISSED)\)/, 'the three p99s and the target are printed')
  const handLat = report.scenarios.find((r) => r.id === 'latency.hand')
  const handRuns = handLat?.details['runs'] as { latencyMs: { count: number; missing: number; p99: number } }[]
  t.equal(handRuns.length, 3, 'the hand-written pipeline is timed in three runs too')
  t.ok(handRuns.every((r) => r.latencyMs.count > 0 && r.latencyMs.missing === 0), 'every hand-written run saw every output')
  t.equal(handLat?.details['targetRate'], latRow?.details['targetRate'], 'at the same pace as the Omni worker')
  const sinkRows = report.scenarios.filter((r) => r.scenario === 'sink').map((r) => r.id)
  t.same(sinkRows, ['sink.insert', 'sink.insert.full-batches', 'sink.e2e'], 'the sink reports inserts and the end-to-end run with it')
  const insert = report.scenarios.find((r) => r.id === 'sink.insert')?.details as { storedFinal: number; eventLoopStallsMs: { p99: number; max: number }; inserts: { batches: number } }
  t.equal(insert.storedFinal, 500, 'every inserted row is in omni_events, once')
  t.ok(insert.inserts.batches > 0 && insert.eventLoopStallsMs.max >= insert.eventLoopStallsMs.p99, 'inserts and event-loop stalls are reported')
  const sinkE2e = report.scenarios.find((r) => r.id === 'sink.e2e')
  t.equal(sinkE2e?.ratioTo, 'pipeline-e2e', 'the end-to-end rate with the sink is compared with the same pipeline without it')
  t.match(sinkE2e?.notes, /target ≥ 0\.6× the pipeline without the sink \(pipeline-e2e, \d+\/s\): (met|MISSED)/, 'the sink target is printed beside the figure')
  const sinkDetails = sinkE2e?.details as { expected: number; completed: boolean; ratioToPipelineE2e: number; stored: { events: number; outcomes: number }; outcomeRowsWritten: number }
  t.ok(sinkDetails.completed && sinkDetails.ratioToPipelineE2e > 0, 'settled, and compared with pipeline-e2e of the same run')
  t.equal(sinkDetails.stored.events, 2 * sinkDetails.expected, 'omni_events FINAL holds every event and every output, once')
  t.ok(sinkDetails.outcomeRowsWritten > 0 && sinkDetails.stored.outcomes === sinkDetails.outcomeRowsWritten, 'omni_stage_outcomes FINAL holds every outcome row written')
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

  const { report, jsonPath } = await runBench({ quick: true, events: 200, natsUrl: server.url, json: false, only: ['consume-ceiling', 'pipeline-e2e', 'http-ingest', 'plugins', 'sink'] })
  t.equal(jsonPath, undefined, 'json: false writes nothing')
  t.same(report.failures, [])
  t.same([...new Set(report.scenarios.map((r) => r.scenario))], ['consume-ceiling', 'pipeline-e2e', 'http-ingest', 'plugins', 'sink'], 'only the chosen scenarios ran')
  t.match(
    report.scenarios.find((r) => r.id === 'plugins.container'),
    { rate: 0, notes: /^skipped: no Docker engine socket was given/, details: { skipped: true } },
    'without a Docker socket the container plugin row is skipped, and says so',
  )
  t.same(
    report.scenarios.filter((r) => r.scenario === 'sink').map((r) => r.id),
    ['sink.insert', 'sink.insert.full-batches'],
    'the sink end to end is skipped: its recorder would share a running fabric\'s consumer',
  )
  t.match(
    report.scenarios.find((r) => r.id === 'http.webhook'),
    { rate: 0, notes: /^skipped: on a shared server/, details: { skipped: true } },
    'the webhook row is skipped: it would write outside the bench subjects',
  )
  t.notOk((await jsm.consumers.list(EVENTS_STREAM).next()).some((c) => c.name.includes('_recorder')), 'no recorder consumer was created')
  t.ok(report.scenarios.every((r) => r.rate > 0 || r.details['skipped'] === true))
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
