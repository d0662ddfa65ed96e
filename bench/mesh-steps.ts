// Where the mesh path's time goes, step by step: a hub and two leaves with a node each (as the
// bench's mesh scenario runs them), a paced load on a1, then every stored copy of each event read
// back with the stream's own timestamp: a1's events stream → its cluster outbox → a2's inbox →
// a2's events stream (omni.rcv) → the pipeline's output. Prints each step's p50/p90/p99/max.
//
//   node bench/mesh-steps.ts [events/s = 1000] [seconds = 10] [ms not counted at the start = 2000]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../src/jetstream/connect.ts'
import { ensureStreams, EVENTS_STREAM } from '../src/jetstream/topology.ts'
import { meshInboxStream, meshOutboxStream } from '../src/wire/mod.ts'
import { startPlatform } from './ledger/platform.ts'
import { loadBenchFixtures } from './lib/fixtures.ts'
import { runGenerator } from './lib/generator.ts'
import { startMeshServers } from './lib/mesh-servers.ts'
import { summarize } from './lib/stats.ts'
import { closeQuietly } from './lib/worker.ts'
import { writeManifests } from './scenarios/mesh.ts'

const [rate, seconds, skipMs] = [Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 10), Number(process.argv[4] ?? 2000)]
if (![rate, seconds, skipMs].every((n) => Number.isFinite(n) && n >= 0) || rate === 0 || seconds === 0) {
  console.error('usage: node bench/mesh-steps.ts [events/s > 0] [seconds > 0] [ms not counted at the start ≥ 0]')
  process.exit(2)
}
const decoder = new TextDecoder()

/** Every message of `stream` (under `filter`) by the event's data.sentAt, with the time it was stored. */
async function storedAt(nc: NatsConnection, stream: string, filter?: string): Promise<Map<number, number>> {
  const consumer = await jetstream(nc).consumers.get(stream, filter ? { filter_subjects: [filter] } : {})
  const out = new Map<number, number>()
  for (;;) {
    let got = 0
    for await (const m of await consumer.fetch({ max_messages: 1000, expires: 1000 })) {
      got++
      const sentAt = (JSON.parse(decoder.decode(m.data)) as { data?: { sentAt?: unknown } }).data?.sentAt
      if (typeof sentAt === 'number') out.set(sentAt, m.info.timestampNanos / 1e6)
    }
    if (got === 0) return out
  }
}

const dir = mkdtempSync(join(tmpdir(), 'omni-mesh-steps-'))
const manifests = writeManifests(dir)
const servers = await startMeshServers({ dir: join(dir, 'nats'), syncInterval: '1s', a1ThroughProxy: false })
const conns: NatsConnection[] = []
try {
  const leaf = async (url: string) => {
    const nc = await connectNats(url, { name: 'omni-mesh-steps', credentials: servers.platform })
    conns.push(nc)
    await ensureStreams(await jetstreamManager(nc))
    return nc
  }
  const [a, b] = [await leaf(servers.a1.url), await leaf(servers.a2.url)]
  const node = (on: 'a1' | 'a2', folder: string, mesh: typeof servers.configs.a1) =>
    startPlatform({ natsUrl: servers[on].url, natsCredentials: servers.platform, mesh, manifests: folder, data: join(dir, `data-${on}`), ingestOnly: true, maxInFlight: 0, ackWaitMs: 0, logLevel: 'warn' })
  const nodeA = node('a1', manifests.a, { ...servers.configs.a1, peers: [] })
  const nodeB = node('a2', manifests.mesh, servers.configs.a2)
  await Promise.all([nodeA.ready, nodeB.ready])
  const { outputSubject } = await loadBenchFixtures(manifests.mesh)
  const report = await runGenerator({ url: servers.a1.url, latencyUrl: servers.a2.url, credentials: servers.platform, manifests: manifests.mesh, visibility: 'cluster', run: 'mesh-steps', rate, durationMs: seconds * 1000, warmupMs: skipMs, latencySubject: outputSubject, drainMs: 5000, timeoutMs: seconds * 2000 + 30_000 })
  if (report.type === 'error') throw new Error(report.message)
  console.log(`publish → output on a2 (the generator's own clock): ${JSON.stringify(report.latency)}`)
  // the nodes stop first: a1's outbox guard deletes every consumer it did not make on the outboxes
  await Promise.all([nodeB.stop(), nodeA.stop()])
  const evA = await storedAt(a, EVENTS_STREAM, 'omni.evt.bench.>')
  const outbox = await storedAt(a, meshOutboxStream('cluster'))
  const inbox = await storedAt(b, meshInboxStream('a1'))
  const received = await storedAt(b, EVENTS_STREAM, 'omni.rcv.>')
  const outputs = await storedAt(b, EVENTS_STREAM, outputSubject)
  const from = Math.min(...evA.keys()) + skipMs
  const steps = [
    ['a1 events → outbox (exporter)', evA, outbox],
    ['outbox → a2 inbox (sourcing)', outbox, inbox],
    ['inbox → omni.rcv (receiver)', inbox, received],
    ['omni.rcv → output (pipeline)', received, outputs],
    ['a1 events → output', evA, outputs],
  ] as const
  for (const [name, start, end] of steps) {
    const ms = [...end].filter(([sentAt]) => sentAt >= from && start.has(sentAt)).map(([sentAt, at]) => at - (start.get(sentAt) as number))
    const s = summarize(ms)
    console.log(`${name.padEnd(32)} n ${ms.length}  p50 ${s.p50} ms  p90 ${s.p90} ms  p99 ${s.p99} ms  max ${s.max} ms`)
  }
} finally {
  for (const nc of conns) await closeQuietly(nc)
  await servers.close()
  rmSync(dir, { recursive: true, force: true })
}
