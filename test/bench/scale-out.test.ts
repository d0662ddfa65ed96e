import t from 'tap'
import { runScaleOut } from '../../bench/ledger/scale-out.ts'
import { startTestNats } from '../fixtures/nats.ts'
import { startTestCluster } from '../fixtures/nats-cluster.ts'

// Scale-out on the real engine (issue 14, checks): what the chart's nats.replicas: 3 and its
// several platform pods rely on. Real nats-servers, platform child processes, no ClickHouse.
// About 20 s on an idle 2-core machine; the bounds inside (a new leader, the pipeline settling,
// the restarted server catching up) add up to a few minutes at worst.
t.setTimeout(300_000)

t.test('a 3-node cluster with one server SIGKILLed while events flow: every acknowledged event stored and processed once', async (t) => {
  const cluster = await startTestCluster(t)
  // two platform processes as the chart's replicas run them, every client given all three URLs
  const r = await runScaleOut({ natsUrl: cluster.url, events: 3000, replicas: 3, platforms: 2, kill: { servers: cluster.byName, healthy: () => cluster.healthy() } })
  t.comment(JSON.stringify(r))
  t.ok(r.killed, 'a server was killed mid-flow')
  t.equal(r.acked, 3000, 'every event was acknowledged (some after a retry with the same id)')
  t.equal(r.inputsStored, r.acked, 'every acknowledged event is in the stream')
  t.equal(r.outputsFound, r.acked, 'every acknowledged event has its output')
  t.same(r.streamCounts, { inputs: 3000, outputs: 3000 }, "the stream's own counts agree: one input and one output per event")
  t.equal(r.lost, 0, '0 lost')
  t.equal(r.duplicated, 0, '0 duplicated')
  t.ok(r.settled, 'the pipeline caught up')
  for (const [i, n] of r.perPlatform.entries()) t.ok(n > 0, `process ${i + 1} took part (${n})`)
})

t.test('two platform processes on one NATS split one pipeline: both take part, none lost, none duplicated', async (t) => {
  const server = await startTestNats(t)
  const r = await runScaleOut({ natsUrl: server.url, events: 3000, platforms: 2 })
  t.comment(JSON.stringify(r))
  t.equal(r.acked, 3000)
  t.equal(r.outputsFound, r.acked, 'every acknowledged event has its output')
  t.equal(r.lost, 0, '0 lost')
  t.equal(r.duplicated, 0, '0 duplicated')
  t.equal(r.perPlatform.length, 2)
  for (const [i, n] of r.perPlatform.entries()) t.ok(n >= 300, `process ${i + 1} handled a share (${n} of ${r.acked})`)
  t.ok(r.settled)
})
