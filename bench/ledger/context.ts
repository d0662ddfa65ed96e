// What every ledger scenario runs on: a fresh nats-server and data folder, the harness's own
// connection as the producer, the ledger, and the platform as child processes.
import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventCatalog } from '../../src/catalog/catalog.ts'
import { RECORDER } from '../../src/clickhouse/recorder.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher, type Publisher } from '../../src/jetstream/publisher.ts'
import { consumerName, DEFAULT_DUPLICATE_WINDOW_MS, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { loadManifestsOrThrow } from '../../src/manifests/load.ts'
import { startNatsServer, type ManagedNatsServer } from '../../src/server/mod.ts'
import { startNatsCluster, type NatsCluster } from '../lib/nats-cluster.ts'
import { openMeshLedger, type MeshLedger } from './mesh.ts'
import { ledgerLookup } from './cartridges.ts'
import { sha256, type Ledger } from './ledger.ts'
import { makeLedgerPlugins, type LedgerPluginSpec, type LedgerPlugins } from './plugins.ts'
import { startPlatform, type PlatformChild, type PlatformOptions } from './platform.ts'
import { PIPELINE } from './reconcile.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
/** the least time a flow takes by default, however few its events */
const FLOW_MS = 2000

export interface ScenarioContext {
  readonly scenario: number
  /** unique per scenario run: every event carries it, so nothing from another run is counted */
  readonly run: string
  readonly events: number
  /** the events stream's duplicate window (the platform's default unless the scenario lowers it) */
  readonly duplicateWindowMs: number
  /** the server events are sent to (a1 in a mesh scenario) */
  readonly server: ManagedNatsServer
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** where the ledger pipeline and the recorder run: the same server, or a2 in a mesh scenario */
  readonly processing: { readonly js: JetStreamClient; readonly jsm: JetStreamManager }
  /** the hub, both leaves and the proxy of a mesh scenario */
  readonly mesh: MeshLedger | undefined
  /** the three routed servers of a cluster scenario (`server` is the first; every client gets all three URLs) */
  readonly cluster: NatsCluster | undefined
  readonly manifests: string
  readonly data: string
  readonly ledger: Ledger
  /** publishes attempted so far */
  sent(): number
  /** sends event n; records it in the ledger once the stream acknowledged it; false if refused */
  send(n: number, opts?: { poison?: boolean; idempotencykey?: string }): Promise<boolean>
  /**
   * sends events from..from+count-1, `perTick` every `tickMs` (default: paced over at least 2 s)
   * without waiting for acks in between; `at(i)` runs before the i-th
   */
  flow(from: number, count: number, opts?: { perTick?: number; tickMs?: number; at?: (i: number) => void | Promise<void>; poison?: (n: number) => boolean }): Promise<void>
  /** signs, installs and approves plugins; every platform started after this may use them */
  plugins(specs: readonly LedgerPluginSpec[]): Promise<LedgerPlugins>
  /** replaces the ledger pipeline's YAML (before the platform starts, or to make it reload) */
  writePipeline(yaml: string): void
  readonly pipelineFile: string
  /**
   * starts a platform process; in a mesh scenario `on` says which leaf: a1 takes the events in
   * (and exports them), a2 runs the ledger pipeline and the recorder
   */
  platform(opts?: Omit<PlatformOptions, 'natsUrl' | 'manifests' | 'data' | 'plugins' | 'mesh' | 'natsCredentials'> & { on?: 'a1' | 'a2' }): PlatformChild
  /** waits until the pipeline and the recorder have nothing pending or unacknowledged */
  settle(timeoutMs?: number): Promise<boolean>
  /** the first event number sent after the scenario's fault took effect (outcomes are counted from it too) */
  mark(n: number): void
  marked(): number | undefined
  /** notes for the report (what a scenario measured or saw) */
  note(text: string): void
  readonly notes: string[]
  /** figures a scenario measured, by name (also in the JSON) */
  readonly measured: Record<string, number>
  /** SIGTERM every platform process and wait for them (ClickHouse is then free to read) */
  stopPlatforms(): Promise<void>
  /** stops everything and removes the scenario's folder */
  close(): Promise<void>
}

/** Copies of every stream and bucket in a cluster scenario: one on each server. */
export const CLUSTER_REPLICAS = 3

/** A scenario's servers: one nats-server, a hub and two leaves (`mesh`), or three routed servers (`cluster`). */
async function openServers(dir: string, lowWindowMs: number | undefined, mesh: boolean, clustered: boolean) {
  if (mesh) {
    const m = await openMeshLedger(dir)
    return { server: m.servers.a1, nc: m.sender.nc, js: m.sender.js, jsm: m.sender.jsm, processing: m.receiver, mesh: m, cluster: undefined }
  }
  if (clustered) {
    const cluster = await startNatsCluster({ dir: join(dir, 'nats') })
    const nc = await connectNats(cluster.url, { name: 'omni-ledger' })
    const js = jetstream(nc)
    const jsm = await jetstreamManager(nc)
    await ensureStreams(jsm, { replicas: CLUSTER_REPLICAS, ...(lowWindowMs === undefined ? {} : { duplicateWindowMs: lowWindowMs }) })
    return { server: cluster.servers[0] as ManagedNatsServer, nc, js, jsm, processing: { js, jsm }, mesh: undefined, cluster }
  }
  const server = await startNatsServer({ port: 0, host: '127.0.0.1', syncInterval: 'always', stopTimeoutMs: 5000, storeDir: join(dir, 'nats') })
  const nc = await connectNats(server.url, { name: 'omni-ledger' })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  // the harness is the operator: it makes the streams, with its own duplicate window if asked
  await ensureStreams(jsm, lowWindowMs === undefined ? {} : { duplicateWindowMs: lowWindowMs })
  return { server, nc, js, jsm, processing: { js, jsm }, mesh: undefined, cluster: undefined }
}

export async function openContext(scenario: number, events: number, lowWindowMs: number | undefined, ledger: Ledger, opts: { mesh?: boolean; cluster?: boolean } = {}): Promise<ScenarioContext> {
  const dir = mkdtempSync(join(tmpdir(), `omni-ledger-${scenario}-`))
  const manifests = join(dir, 'manifests')
  cpSync(FIXTURES, manifests, { recursive: true })
  const data = join(dir, 'data')
  const { server, nc, js, jsm, processing, mesh, cluster } = await openServers(dir, lowWindowMs, opts.mesh === true, opts.cluster === true)
  const duplicateWindowMs = lowWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS
  const publisher: Publisher = createPublisher(nc)
  // across the mesh the producer publishes with the sender's catalog, where the type may travel
  const { catalog } = await loadManifestsOrThrow(mesh ? mesh.manifests.sender : manifests, ledgerLookup)
  const run = `s${scenario}-${Date.now().toString(36)}`
  const children: PlatformChild[] = []
  const notes: string[] = []
  let sent = 0
  let pluginHost: LedgerPlugins['host'] | undefined
  let mark: number | undefined
  const pipelineFile = join(manifests, 'pipelines', 'ledger.yaml')

  // every other event goes through the HTTP API of the platform running now (a 2xx is its ack)
  const apiToken = randomBytes(24).toString('hex')
  let current: PlatformChild | undefined
  const viaHttp = async (n: number, input: Record<string, unknown>): Promise<{ seq: number; duplicate: boolean }> => {
    const url = current?.apiUrl()
    if (!url) throw new Error('no platform API is up')
    const res = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: `ledger-${run}-${n}`, source: 'omni://ledger', ...input }),
      signal: AbortSignal.timeout(10_000),
    })
    const body = (await res.json()) as { seq?: number; duplicate?: boolean }
    if (res.status < 200 || res.status > 299 || typeof body.seq !== 'number') throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`)
    return { seq: body.seq, duplicate: body.duplicate === true }
  }

  const send = async (n: number, opts: { poison?: boolean; idempotencykey?: string } = {}): Promise<boolean> => {
    sent++
    const data = { run, n, text: 'a ledger event', ...(opts.poison ? { poison: true } : {}) }
    const key = opts.idempotencykey ? { idempotencykey: opts.idempotencykey } : {}
    const poison = opts.poison === true
    try {
      if (n % 2 === 1) {
        const ack = await viaHttp(n, { type: 'ledger.tick', data, ...key })
        ledger.record({ scenario, run, n, seq: ack.seq, duplicate: ack.duplicate, via: 'http', sha256: sha256(Buffer.from(JSON.stringify(data))), poison })
      } else {
        const r = await publishEvent(publisher, catalog as EventCatalog, { type: 'ledger.tick', data, ...key })
        ledger.record({ scenario, run, n, seq: r.ack.seq, duplicate: r.ack.duplicate, via: 'puback', sha256: sha256(r.bytes), poison })
      }
      return true
    } catch {
      return false // refused or unanswered: not acknowledged, so nothing was promised
    }
  }

  const ctx: ScenarioContext = {
    scenario,
    run,
    events,
    duplicateWindowMs,
    server,
    nc,
    js,
    jsm,
    processing,
    mesh,
    cluster,
    manifests,
    data,
    ledger,
    notes,
    measured: {},
    sent: () => sent,
    send,
    note: (text) => void notes.push(text),
    mark: (n) => void (mark = n),
    marked: () => mark,
    async flow(from, count, opts = {}) {
      const pending: Promise<boolean>[] = []
      const perTick = opts.perTick ?? 10
      // paced to last about FLOW_MS, so a fault at a third of the events meets a flow still going
      const tickMs = opts.tickMs ?? Math.max(5, Math.floor(FLOW_MS / Math.ceil(count / perTick)))
      for (let i = 0; i < count; i++) {
        if (opts.at) await opts.at(i)
        pending.push(send(from + i, { poison: opts.poison?.(from + i) ?? false }))
        if ((i + 1) % perTick === 0) await sleep(tickMs)
      }
      await Promise.all(pending)
    },
    pipelineFile,
    writePipeline: (yaml) => writeFileSync(pipelineFile, yaml),
    async plugins(specs) {
      const made = await makeLedgerPlugins(join(dir, 'plugin-host'), js, specs)
      pluginHost = made.host
      return made
    },
    platform({ on, ...opts } = {}) {
      if (mesh) {
        // a1 only takes events in; a2 runs the pipeline and owns the ClickHouse folder reconciled
        const leaf = on ?? 'a2'
        const sender = leaf === 'a1'
        const child = startPlatform({
          natsUrl: mesh.servers[leaf].url,
          natsCredentials: mesh.servers.platform,
          mesh: mesh.servers.configs[leaf],
          manifests: sender ? mesh.manifests.sender : mesh.manifests.receiver,
          data: sender ? join(dir, 'data-a1') : data,
          ...opts,
          ...(sender ? { ingestOnly: true, apiToken } : {}),
        })
        children.push(child)
        if (sender) current = child
        return child
      }
      // an ingest-only platform gets the catalog and no pipeline: nothing consumes meanwhile
      const folder = opts.ingestOnly ? join(dir, 'ingest-manifests') : manifests
      if (opts.ingestOnly) cpSync(join(FIXTURES, 'catalog.yaml'), join(folder, 'catalog.yaml'))
      const nats = cluster ? { natsUrl: cluster.url, replicas: CLUSTER_REPLICAS } : { natsUrl: server.url }
      const child = startPlatform({ ...nats, manifests: folder, data, apiToken, ...opts, ...(pluginHost ? { plugins: pluginHost } : {}) })
      children.push(child)
      current = child
      return child
    },
    async settle(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs
      let quiet = 0
      while (Date.now() < until) {
        const pending = await Promise.all([PIPELINE, RECORDER].map(consumerName).map((c) => processing.jsm.consumers.info(EVENTS_STREAM, c).then((i) => i.num_pending + i.num_ack_pending, () => 1)))
        // across the mesh, an event still on its way is pending nowhere on a2: count the arrivals
        if (mesh) pending.push(Math.max(0, new Set(ledger.of(run).map((e) => e.n)).size - (await mesh.received())))
        quiet = pending.every((p) => p === 0) ? quiet + 1 : 0
        // twice quiet, 300 ms apart: an event between ack and its next publish would show
        if (quiet >= 2) return true
        await sleep(300)
      }
      return false
    },
    async stopPlatforms() {
      await Promise.all(children.map((c) => c.stop()))
    },
    async close() {
      await Promise.all(children.map((c) => c.stop()))
      await publisher.close()
      await nc.close().catch(() => undefined)
      await (mesh ? mesh.close() : cluster ? cluster.close() : server.close())
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return ctx
}
