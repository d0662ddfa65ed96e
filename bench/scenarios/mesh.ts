// The mesh hop: a hub and two leaves on loopback (bench/lib/mesh-servers.ts), an Omni node on
// each leaf as its own process (startNode with its mesh config, no ClickHouse). Throughput: N
// events wait on leaf A (published through the ingest path, visibility cluster); A's node starts
// and the clock runs until B's pipeline (source `{ mesh: cluster, types: [bench.tick] }`) has
// stored all N outputs. Compared in the same run with the same pipeline on B fed the same N
// events on B itself (B's node starts on a full stream). Latency: publish on A → output on B at
// half the mesh rate, against publish on B → output on B at the same rate.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { ingestMsgId } from '../../src/wire/mod.ts'
import { startPlatform, type PlatformChild } from '../ledger/platform.ts'
import { benchEvent, FIXTURES_DIR, loadBenchFixtures } from '../lib/fixtures.ts'
import { cpuSeconds } from '../lib/machine.ts'
import { runGenerator, type GeneratorReport } from '../lib/generator.ts'
import { startMeshServers, type MeshServers } from '../lib/mesh-servers.ts'
import { waitingCopy, type BoundLevel } from '../lib/waiting-copy.ts'
import { startCopies, type Copies } from './mesh-bounds.ts'
import type { PreparedEvent } from '../../src/ingest/prepare.ts'
import { createBenchPublisher, publishAll } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import type { BenchContext, Scenario, ScenarioResult } from '../lib/types.ts'
import { closeQuietly } from '../lib/worker.ts'

const TARGET_RATIO = 0.8
const TARGET_ADDED_P99_MS = 5
/** how often B's stored outputs are counted */
const POLL_MS = 50
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
type Visibility = 'local' | 'cluster'

/** The bench's manifests in three variants: A's catalog only, B with the pipeline fed locally, B with it fed by the mesh. */
export function writeManifests(dir: string): { a: string; local: string; mesh: string } {
  const catalog = readFileSync(join(FIXTURES_DIR, 'catalog.yaml'), 'utf8').replace('visibility: local', 'visibility: cluster')
  const pipeline = readFileSync(join(FIXTURES_DIR, 'pipeline.yaml'), 'utf8')
  if (!catalog.includes('visibility: cluster') || !pipeline.includes('  - omni.evt.bench.bench-tick.v1')) throw new Error('the bench fixtures changed: the mesh scenario cannot make its variants of them')
  const folders = { a: join(dir, 'manifests-a'), local: join(dir, 'manifests-b-local'), mesh: join(dir, 'manifests-b-mesh') }
  for (const f of Object.values(folders)) {
    mkdirSync(f, { recursive: true })
    writeFileSync(join(f, 'catalog.yaml'), catalog)
  }
  // the same stages and output; only the name (its own consumer) and, for the mesh, the source differ
  writeFileSync(join(folders.local, 'pipeline.yaml'), pipeline.replace('name: bench', 'name: bench-local'))
  writeFileSync(join(folders.mesh, 'pipeline.yaml'), pipeline.replace('name: bench', 'name: bench-mesh').replace('  - omni.evt.bench.bench-tick.v1', '  - { mesh: cluster, types: [bench.tick] }'))
  return folders
}

/** Outputs stored in a leaf's events stream. */
async function outputsOn(jsm: JetStreamManager, subject: string): Promise<number> {
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: subject })
  return info.state.subjects?.[subject] ?? 0
}

interface Leaf {
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
}

interface Throughput {
  readonly events: number
  /** from the first output stored on B to the last */
  readonly seconds: number
  readonly rate: number
  /** from the node's start to the last output */
  readonly wallSeconds: number
  readonly readyMs: number | undefined
  readonly completed: boolean
  readonly prePublishSeconds: number
  readonly bytes: number
  /** CPU time per event of every server and node process, between the first output and the last */
  readonly cpuMicrosPerEvent: { readonly servers: number; readonly nodes: number }
}

/** CPU seconds used so far by each of `pids` (0 for one /proc cannot read). */
function cpuOf(pids: readonly number[]): number[] {
  return pids.map((p) => cpuSeconds(p) ?? 0)
}

/**
 * Pre-publishes N events on `to`, then starts `start()`'s node and times until B holds N more
 * outputs (bounded by `capMs`). The started node is returned running.
 */
async function throughput(ctx: BenchContext, label: string, to: Leaf, b: Leaf, visibility: Visibility, start: () => PlatformChild, capMs: number, catalogDir: string, pids: { servers: () => number[]; nodes: () => number[] }, waiting: (e: PreparedEvent) => { readonly subject: string; readonly bytes: Uint8Array } = (e) => e): Promise<{ result: Throughput; node: PlatformChild }> {
  const { catalog, outputSubject } = await loadBenchFixtures(catalogDir)
  const n = ctx.sizes.events
  const run = `${ctx.runId}-mesh-${label}`
  // every run starts on an empty events stream on B, whatever the runs before it left there
  await b.jsm.streams.purge(EVENTS_STREAM)
  const baseline = await outputsOn(b.jsm, outputSubject)
  const publisher = createBenchPublisher(to.nc)
  let bytes = 0
  const filled = await publishAll(
    publisher,
    n,
    (i) => {
      const e = benchEvent(catalog, run, i, 0, visibility)
      const w = waiting(e)
      bytes = w.bytes.byteLength
      return { subject: w.subject, bytes: w.bytes, msgID: ingestMsgId(e.event.tenant, e.event.idempotencykey) }
    },
    ctx.progress(`mesh ${label}: pre-publishing`, n),
    ctx.sizes.phaseTimeoutSeconds * 1000,
  ).finally(() => publisher.close())
  if (filled.acked < n) throw new Error(`mesh ${label}: only ${filled.acked} of ${n} events pre-published (${filled.firstError ?? ''})`)
  const bar = ctx.progress(`mesh ${label}: pipeline`, n)
  const started = performance.now()
  const node = start()
  let readyMs: number | undefined
  let failed: unknown
  node.ready.then(
    () => (readyMs = Math.round(performance.now() - started)),
    (err: unknown) => (failed = err),
  )
  let done = 0
  // the rate counts from the first output: a node process starting (seconds on a busy machine)
  // would otherwise weigh more than the work at small sizes; the wall time is reported beside it
  let firstAt: number | undefined
  let cpu0: { servers: number[]; nodes: number[] } | undefined
  const until = started + capMs
  try {
    while (done < n && performance.now() < until && failed === undefined) {
      await sleep(POLL_MS)
      done = (await outputsOn(b.jsm, outputSubject)) - baseline
      if (done > 0 && firstAt === undefined) {
        firstAt = performance.now() - POLL_MS / 2
        cpu0 = { servers: cpuOf(pids.servers()), nodes: cpuOf(pids.nodes()) }
      }
      bar.update(Math.min(n, done))
    }
  } finally {
    bar.stop()
  }
  if (failed !== undefined) throw failed instanceof Error ? failed : new Error(String(failed))
  const end = performance.now()
  const used = (now: number[], then: number[] | undefined) => now.reduce((a, v, i) => a + v - (then?.[i] ?? v), 0)
  const perEvent = (sec: number) => (done > 0 ? Math.round((sec * 1e6) / done) : 0)
  const cpuMicrosPerEvent = { servers: perEvent(used(cpuOf(pids.servers()), cpu0?.servers)), nodes: perEvent(used(cpuOf(pids.nodes()), cpu0?.nodes)) }
  const seconds = (end - (firstAt ?? started)) / 1000
  return { result: { events: done, seconds: round(seconds, 3), rate: Math.round(done / seconds), wallSeconds: round((end - started) / 1000, 3), readyMs, completed: done >= n, prePublishSeconds: round(filled.seconds, 3), bytes, cpuMicrosPerEvent }, node }
}


/** Paced publishing on `url`, timing publish → output on `outUrl`. */
async function latencyRun(ctx: BenchContext, label: string, servers: MeshServers, url: string, outUrl: string, rate: number, visibility: Visibility, manifests: string, asMeshOutbox = false): Promise<Extract<GeneratorReport, { type: 'done' }>> {
  const durationMs = ctx.sizes.latencySeconds * 1000
  const bar = ctx.progress(`mesh ${label}: latency`, ctx.sizes.latencySeconds)
  const started = performance.now()
  const ticker = setInterval(() => bar.update(Math.min(ctx.sizes.latencySeconds, Math.floor((performance.now() - started) / 1000))), 250)
  try {
    const { outputSubject } = await loadBenchFixtures(manifests)
    const report = await runGenerator({
      url,
      latencyUrl: outUrl,
      credentials: servers.platform,
      manifests,
      visibility,
      asMeshOutbox,
      run: `${ctx.runId}-mesh-lat-${label}`,
      rate,
      durationMs,
      warmupMs: ctx.sizes.warmupSeconds * 1000,
      latencySubject: outputSubject,
      drainMs: 5000,
      timeoutMs: durationMs * 2 + 20_000,
    })
    if (report.type === 'error') throw new Error(`mesh ${label} latency: ${report.message}`)
    if (!report.latency) throw new Error(`mesh ${label} latency: the load generator returned no latencies`)
    return report
  } finally {
    clearInterval(ticker)
    bar.stop()
  }
}

/** How long the floor's new source may take to bring a first event across. */
const SOURCE_SETUP_MS = 60_000

/**
 * Waits until one event waiting in A's cluster outbox has come out of B's pipeline: JetStream sets
 * a new source up in its own time, and a latency run started before would time that set-up.
 */
async function floorFlows(ctx: BenchContext, a: Leaf, b: Leaf, manifests: string): Promise<void> {
  const { catalog, outputSubject } = await loadBenchFixtures(manifests)
  const before = await outputsOn(b.jsm, outputSubject)
  const probe = waitingCopy('floor', benchEvent(catalog, `${ctx.runId}-mesh-floor-probe`, 0, 0, 'cluster'))
  const publisher = createBenchPublisher(a.nc)
  try {
    await publisher.publish(probe.subject, probe.bytes)
  } finally {
    await publisher.close()
  }
  const until = performance.now() + SOURCE_SETUP_MS
  while ((await outputsOn(b.jsm, outputSubject)) <= before) {
    if (performance.now() > until) throw new Error(`mesh floor latency: B's events stream did not bring an event from A's outbox within ${SOURCE_SETUP_MS / 1000} s`)
    await sleep(POLL_MS)
  }
}

export const mesh: Scenario = {
  id: 'mesh',
  title: 'mesh: leaf A → hub → pipeline on leaf B, vs the same pipeline fed on B',
  async run(ctx) {
    const dir = join(ctx.tmpDir, 'mesh')
    const manifests = writeManifests(dir)
    const servers = await startMeshServers({ dir: join(dir, 'nats'), syncInterval: '1s', a1ThroughProxy: false })
    const conns: NatsConnection[] = []
    const nodes = new Set<PlatformChild>()
    try {
      const leaf = async (url: string, name: string): Promise<Leaf> => {
        const nc = await connectNats(url, { name, credentials: servers.platform })
        conns.push(nc)
        const jsm = await jetstreamManager(nc)
        // the harness is the operator here, as it runs the servers
        await ensureStreams(jsm)
        return { nc, jsm }
      }
      const a = await leaf(servers.a1.url, 'omni-bench-mesh-a')
      const b = await leaf(servers.a2.url, 'omni-bench-mesh-b')
      // A only sends here: with no peers it sources nothing back, so the run measures one direction
      const configA: MeshConfig = { ...servers.configs.a1, peers: [] }
      // config undefined: a node not on the mesh (no exporter, no receivers), as the baselines and bounds run B
      const node = (on: 'a1' | 'a2', folder: string, config: MeshConfig | undefined) => {
        const child = startPlatform({ natsUrl: servers[on].url, natsCredentials: servers.platform, ...(config ? { mesh: config } : {}), manifests: folder, data: join(dir, `data-${on}`), ingestOnly: true, maxInFlight: 0, ackWaitMs: 0, logLevel: 'warn' })
        nodes.add(child)
        return child
      }
      const stop = async (child: PlatformChild) => {
        await child.stop()
        nodes.delete(child)
      }
      const capMs = 2 * ctx.sizes.e2eCapSeconds * 1000

      // 1. A's node once, so its outboxes exist before B's inbox sources them (a source retried later waits longer)
      const first = node('a1', manifests.a, configA)
      await first.ready
      await stop(first)

      const serverPids = () => [servers.hub.pid, servers.a1.pid, servers.a2.pid]
      const nodePids = () => [...nodes].map((c) => c.pid)
      const pids = { servers: serverPids, nodes: nodePids }
      // the bare exporter runs in this process: its CPU counts with the nodes' (with the polling's, a little more)
      const withHarness = { servers: serverPids, nodes: () => [...nodePids(), process.pid] }

      // 2a. the design's bounds, before any inbox of B exists: the same N events moved from A into
      // B's events stream by the servers alone or with the bare exporter (mesh-bounds.ts), B's node
      // (not on the mesh, as in the local run: no exporter, inbox or receiver) running the mesh
      // pipeline on them.
      const bound = async (level: BoundLevel) => {
        let child: PlatformChild | undefined
        let copies: Copies | undefined
        try {
          const run = await throughput(ctx, level, a, b, 'cluster', () => {
            const started = node('a2', manifests.mesh, undefined)
            child = started
            // the copies start once B's node consumes, so its start never meets them half made
            return { ...started, ready: started.ready.then(async () => void (copies = await startCopies(level, a, b))) }
          }, capMs, manifests.mesh, level === 'exporter' ? withHarness : pids, (e) => waitingCopy(level, e))
          return run.result
        } finally {
          if (child) await stop(child)
          await copies?.stop()
        }
      }
      const floor = await bound('floor')
      const serversOnly = await bound('servers')
      const bareExporter = await bound('exporter')

      // 2. local: N events wait on B; B's node, not on the mesh (what the pipeline does without it), starts
      const local = await throughput(ctx, 'local', b, b, 'local', () => node('a2', manifests.local, undefined), capMs, manifests.local, pids)
      await stop(local.node)

      // then B's node with the mesh pipeline, idle until A's events come
      const bMesh = node('a2', manifests.mesh, servers.configs.a2)
      await bMesh.ready

      // 3. mesh: N events wait on A (cluster); A's node starts and exports them; B receives and runs them
      const meshed = await throughput(ctx, 'mesh', a, b, 'cluster', () => node('a1', manifests.a, configA), capMs, manifests.mesh, pids)

      // 4. latency at half the mesh rate, over the mesh and then locally on B at the same rate
      const rate = Math.max(1, Math.round(meshed.result.rate / 2))
      const latMesh = await latencyRun(ctx, 'over the mesh', servers, servers.a1.url, servers.a2.url, rate, 'cluster', manifests.mesh)
      await stop(bMesh)
      await stop(meshed.node)
      const bLocal = node('a2', manifests.local, undefined)
      await bLocal.ready
      const latLocal = await latencyRun(ctx, 'local', servers, servers.a2.url, servers.a2.url, rate, 'local', manifests.local)
      await stop(bLocal)

      // 5. the least latency any mesh of streams adds: events published into A's cluster outbox
      // (as an exporter would, with origin set as a receiver would) reach B's events stream by one
      // server-side copy over the hub, where the same mesh pipeline runs; same rate as above
      const bFloor = node('a2', manifests.mesh, undefined)
      await bFloor.ready
      const floorCopies = await startCopies('floor', a, b)
      let latFloor: Awaited<ReturnType<typeof latencyRun>>
      try {
        await floorFlows(ctx, a, b, manifests.mesh)
        latFloor = await latencyRun(ctx, 'floor', servers, servers.a1.url, servers.a2.url, rate, 'cluster', manifests.mesh, true)
      } finally {
        await stop(bFloor)
        await floorCopies.stop()
      }

      const m = meshed.result
      const l = local.result
      const ratio = l.rate > 0 ? round(m.rate / l.rate) : 0
      const lm = latMesh.latency as NonNullable<typeof latMesh.latency>
      const ll = latLocal.latency as NonNullable<typeof latLocal.latency>
      const addedP50 = round(lm.p50 - ll.p50)
      const addedP99 = round(lm.p99 - ll.p99)
      const lf = latFloor.latency as NonNullable<typeof latFloor.latency>
      const floorAdded = { p50: round(lf.p50 - ll.p50), p99: round(lf.p99 - ll.p99) }
      const incomplete = (t: Throughput, what: string) => (t.completed ? '' : `STOPPED at the ${capMs / 1000} s cap: ${t.events} of ${ctx.sizes.events} ${what} outputs`)
      const shortfall = (r: typeof latMesh, what: string) => [r.failed > 0 ? `${what}: ${r.failed} publishes failed (${r.firstError})` : '', (r.latency?.missing ?? 0) > 0 ? `${what}: ${r.latency?.missing} outputs not seen` : '', r.achievedRate < rate * 0.95 ? `${what}: generator reached only ${Math.round(r.achievedRate)}/s` : '']
      const included = "each leaf its own nats-server (fsync 1s) behind hub-a with the hub permissions; an Omni node per leaf as its own process (startNode, mesh config, no ClickHouse); the rate counts from the first output on B to the last (wallSeconds adds the node's start)"
      const boundRow = (level: BoundLevel, t: Throughput, title: string, what: string): ScenarioResult => {
        const r = l.rate > 0 ? round(t.rate / l.rate) : 0
        return {
          id: `mesh.${level}`,
          scenario: 'mesh',
          title,
          events: t.events,
          seconds: t.seconds,
          rate: t.rate,
          ratio: r,
          ratioTo: 'mesh.local',
          notes: [
            level === 'exporter'
              ? `${what} into B's events stream (no receiver, no checks on B), where the same pipeline runs on them: ${r}× the local rate${r < TARGET_RATIO ? `, below the ${TARGET_RATIO}× target with the cheapest exporter and no receiver` : ''}`
              : `${what}, moved by the servers alone (JetStream sourcing, no Omni code, no checks) into B's events stream, where the same pipeline runs on them: ${r}× the local rate${r < TARGET_RATIO ? `, below the ${TARGET_RATIO}× target with no exporter or receiver at all` : ''}`,
            `CPU per event: nodes ${t.cpuMicrosPerEvent.nodes} µs, servers ${t.cpuMicrosPerEvent.servers} µs`,
            incomplete(t, level),
          ].filter(Boolean).join('; '),
          details: { ...t, localRate: l.rate, included },
        }
      }
      const rows: ScenarioResult[] = [
        {
          id: 'mesh',
          scenario: 'mesh',
          title: 'mesh: A → hub → B pipeline',
          events: m.events,
          seconds: m.seconds,
          rate: m.rate,
          ratio,
          ratioTo: 'mesh.local',
          notes: [
            `${ratio}× the same pipeline fed on B (target ≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? 'met' : 'MISSED'})`,
            `A's exporter → outbox → sourced by B's inbox over the hub → B's receiver (trust, catalog) → omni.rcv → 3 stages + 1 output; ${m.bytes} B events`,
            `rate from first to last output; ${m.wallSeconds} s from A's node start (ready after ${m.readyMs ?? '?'} ms)`,
            `CPU per event: nodes ${m.cpuMicrosPerEvent.nodes} µs, servers ${m.cpuMicrosPerEvent.servers} µs (on B alone: ${l.cpuMicrosPerEvent.nodes} µs, ${l.cpuMicrosPerEvent.servers} µs)`,
            incomplete(m, 'mesh'),
          ].filter(Boolean).join('; '),
          details: { ...m, localRate: l.rate, targetRatio: TARGET_RATIO, included },
        },
        {
          id: 'mesh.local',
          scenario: 'mesh',
          title: 'mesh: same pipeline fed on B',
          events: l.events,
          seconds: l.seconds,
          rate: l.rate,
          notes: [`the same N events waiting on B (visibility local), B's node not on the mesh; rate from first to last output; ${l.wallSeconds} s from B's node start (ready after ${l.readyMs ?? '?'} ms)`, incomplete(l, 'local')].filter(Boolean).join('; '),
          details: { ...l, included },
        },
        boundRow('floor', floor, 'mesh floor: one server-side copy A → B', "the N events waiting in A's cluster outbox, sourced over the hub (one copy)"),
        boundRow('servers', serversOnly, "mesh design's copies, servers only", "the N events waiting in A's events stream, sourced into A's outbox and from there over the hub (the design's two copies)"),
        boundRow('exporter', bareExporter, "mesh design, bare exporter, free receiver", "the N events waiting in A's events stream, copied into A's outbox by the least code an exporter can be (bench/lib/bare-exporter.ts: read the envelope, check its visibility, publish, ack) and from there sourced over the hub"),
        {
          id: 'mesh.latency',
          scenario: 'mesh',
          title: 'mesh: added latency at 0.5× mesh rate',
          events: latMesh.acked,
          seconds: round(latMesh.publishSeconds, 3),
          rate: Math.round(latMesh.achievedRate),
          ...(m.rate > 0 ? { ratio: round(latMesh.achievedRate / m.rate), ratioTo: 'mesh' } : {}),
          notes: [
            `added p50 ${addedP50} ms, p99 ${addedP99} ms (target p99 ≤ ${TARGET_ADDED_P99_MS} ms added: ${addedP99 <= TARGET_ADDED_P99_MS ? 'met' : 'MISSED'})`,
            `A → B p50 ${lm.p50} / p99 ${lm.p99} / max ${lm.max} ms; on B alone p50 ${ll.p50} / p99 ${ll.p99} / max ${ll.max} ms`,
            `paced at ${rate}/s both; first ${ctx.sizes.warmupSeconds} s not counted`,
            ...shortfall(latMesh, 'mesh'),
            ...shortfall(latLocal, 'local'),
          ].filter(Boolean).join('; '),
          details: { targetRate: rate, addedMs: { p50: addedP50, p99: addedP99 }, targetAddedP99Ms: TARGET_ADDED_P99_MS, meshMs: lm, localMs: ll, localAchievedRate: Math.round(latLocal.achievedRate) },
        },
        {
          id: 'mesh.latency.floor',
          scenario: 'mesh',
          title: 'mesh floor: added latency, one copy',
          events: latFloor.acked,
          seconds: round(latFloor.publishSeconds, 3),
          rate: Math.round(latFloor.achievedRate),
          ...(m.rate > 0 ? { ratio: round(latFloor.achievedRate / m.rate), ratioTo: 'mesh' } : {}),
          notes: [
            `added p50 ${floorAdded.p50} ms, p99 ${floorAdded.p99} ms over B alone, with no exporter, receiver or checks: events published into A's cluster outbox reach B's events stream by one server-side copy over the hub`,
            `A's outbox → B p50 ${lf.p50} / p99 ${lf.p99} / max ${lf.max} ms`,
            `paced at ${rate}/s, as the mesh and local runs`,
            ...shortfall(latFloor, 'floor'),
          ].filter(Boolean).join('; '),
          details: { targetRate: rate, addedMs: floorAdded, floorMs: lf, localMs: ll },
        },
      ]
      return rows
    } finally {
      for (const n of nodes) await n.stop()
      for (const nc of conns) await closeQuietly(nc)
      await servers.close()
    }
  },
}
