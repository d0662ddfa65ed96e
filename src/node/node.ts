import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { startClickHouseSink, type ClickHouseSink } from '../clickhouse/sink.ts'
import { connectNats } from '../jetstream/connect.ts'
import { createDedupStore } from '../jetstream/dedup-store.ts'
import { openSettledMarks } from '../jetstream/settled-marks.ts'
import { createPublisher } from '../jetstream/publisher.ts'
import { runningSetWriter } from '../jetstream/running-set.ts'
import { DEFAULT_ACK_WAIT_MS, ensureStreams } from '../jetstream/topology.ts'
import { duplicateWindowWarning } from '../pipeline/duplicate-window.ts'
import { loadManifestsOrThrow } from '../manifests/load.ts'
import { openApprovals, openHighWaterMarks } from '../plugins/mod.ts'
import { MAX_SIGNATURE_AGE_S } from '../webhooks/mod.ts'
import { hasSlowMultiFilter } from '../server/version.ts'
import { loadOrCreateNatsCredentials, startNatsServer, type ManagedNatsServer, type NatsCredentials } from '../server/mod.ts'
import { compileNodeConfig, type NodeConfig, type NodeOptions } from './config.ts'
import { startMesh, type MeshRuntime } from '../mesh/runtime.ts'
import { meshServerTopology } from '../mesh/permissions.ts'
import { awaitHubLink, checkExternalServer, checkHubsReachable } from '../mesh/preflight.ts'
import type { MeshConfig } from '../mesh/config.ts'
import { createPluginHost } from './plugin-host.ts'
import { reconcileBucketReplicas } from './bucket-replicas.ts'
import { registerStreamGauges } from './gauges.ts'
import { Lifecycle } from '../util/lifecycle.ts'
import { recordInternals } from './internals.ts'
import { nodeReporter } from './reports.ts'
import { createPipelineRunner } from './runner.ts'
import { createCatalogService, type CatalogService } from './services/catalog.ts'
import { createDeadLetterService, type DeadLetterService } from './services/dead-letters.ts'
import { createEventQueryService, type EventQueryService } from './services/events.ts'
import { createHealthService, type Health } from './services/health.ts'
import { createIngestService, type IngestService } from './services/ingest.ts'
import { createPipelineService, type PipelineService } from './services/pipelines.ts'
import { createPluginService, type PluginService } from './services/plugins.ts'
import { cartridgeHostOf, createCartridgeService, type CartridgeService } from './services/cartridges.ts'
import { createMeshService, serveMeshStatus, type MeshService } from './services/mesh.ts'
import { registerMeshGauges } from './mesh-gauges.ts'
import { createStatusHub, type NodeStatus } from './status.ts'

export type NodeState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed'

/** What the node's NATS and ClickHouse are, for a banner or a log line; no handle to either. */
export interface NodeDescription {
  readonly nats: { readonly url: string; readonly managed?: { readonly version: string; readonly pid: number; readonly storeDir: string } }
  readonly clickhouse?: { readonly description: string; readonly database: string; readonly eventsRetentionDays: number; readonly rawRetentionDays: number }
  readonly manifests: string
  readonly watching: boolean
}

/**
 * A running Omni Fabric node: the one composition root. It offers services, never transports;
 * the CLI and the API are adapters over them.
 */
export interface OmniNode extends AsyncDisposable {
  readonly state: NodeState
  /** why the node failed; kept after close */
  readonly failure: string | undefined
  readonly ingest: IngestService
  readonly pipelines: PipelineService
  readonly deadLetters: DeadLetterService
  readonly events: EventQueryService
  readonly catalog: CatalogService
  readonly plugins: PluginService
  /** signed plugins published to and received from the mesh, and the queue of those waiting for a person */
  readonly cartridges: CartridgeService
  /** the node's place on the mesh; `enabled: false` when it joined none */
  readonly mesh: MeshService
  health(): Promise<Health>
  /** every settled event, reload and failure from now on, as one typed stream */
  status(): AsyncIterableIterator<NodeStatus>
  describe(): NodeDescription
  /** drains and releases everything, in reverse order of start; idempotent */
  close(): Promise<void>
  /** resolves once closed; never rejects */
  closed(): Promise<void>
}

/**
 * Starts a node. Resources join one AsyncDisposableStack in dependency order (nats-server,
 * connection, streams, publisher, sinks, plugin host, workers) and are released in reverse,
 * also when a later step of the start fails.
 */
export async function startNode(options: NodeOptions): Promise<OmniNode> {
  const config = compileNodeConfig(options)
  const { logger } = config
  const stack = new AsyncDisposableStack()
  const status = createStatusHub()
  const node = new NodeImpl(config, stack, status)
  // the first in, so the last out: nothing of the folder is used after it is given up
  const { dataLock } = config
  if (dataLock) stack.defer(() => dataLock.release())
  try {
    // plugins are read and the manifests checked before anything starts: bad input changes nothing
    const host = config.plugins ? createPluginHost(config.plugins, logger) : undefined
    await host?.scan()
    const lookup = host ? host.lookup(config.lookup) : config.lookup
    const loaded = await loadManifestsOrThrow(config.manifests, lookup)

    const credentials = 'serve' in config.nats ? (config.nats.serve.credentialsFile ? await loadOrCreateNatsCredentials(config.nats.serve.credentialsFile) : undefined) : config.nats.credentials
    // a hub that does not answer is said before a server starts that would retry it forever
    const hubAnswered = config.mesh && 'serve' in config.nats ? await checkHubsReachable(config.mesh, logger) : false
    const server = 'serve' in config.nats ? await startServer(config.nats.serve, credentials, config.mesh) : undefined
    if (server) {
      stack.defer(() => server.close())
      // the node's own server gone for good: the connection would retry forever
      void server.closed().then(() => node.fail(`its nats-server (pid ${server.pid}) exited`))
      // a login the hub refuses shows only in the server's log: said now, not retried forever
      if (config.mesh && hubAnswered) await awaitHubLink(config.mesh, server, logger)
    }
    const url = server ? server.url : (config.nats as { url: string }).url
    const nc = await connectNats(url, { name: 'omni-fabric', ...(credentials ? { credentials } : {}) })
    stack.defer(() => drainWithin(nc, DRAIN_MS))
    warnOnSlowServer(nc, config)
    node.watchConnection(nc)
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    if (config.mesh && !server) await checkExternalServer(config.mesh, jsm, url, logger)
    // an operator's settings on existing streams are kept; each difference is said once
    for (const warning of await ensureStreams(jsm, { ...config.streams, mode: 'upsert' })) logger.warn(warning)
    // read from the stream itself: one made by an earlier version keeps its 2 min window
    const shortWindow = await duplicateWindowWarning(jsm, config.worker.ackWaitMs ?? DEFAULT_ACK_WAIT_MS, {
      ms: 2 * MAX_SIGNATURE_AGE_S * 1000,
      why: `twice the accepted age of a signed webhook timestamp (${MAX_SIGNATURE_AGE_S} s), so a replayed signed delivery may be stored again`,
    })
    if (shortWindow) logger.warn(shortWindow)
    const publisher = createPublisher(nc)
    stack.defer(() => publisher.close())
    // what each bucket this node creates is given: the configured copies across a cluster
    const bucketOpts = config.streams.replicas !== undefined ? { replicas: config.streams.replicas } : {}
    const dedup = await createDedupStore(js, config.worker.dedupTtlMs, bucketOpts)

    let catalog = loaded.catalog
    const report = nodeReporter(config, status, (reason) => node.fail(reason))
    // only outcome rows can keep an event waiting after its outputs are stored: no ClickHouse, no marks
    const marks = config.clickhouse ? await openSettledMarks(js, jsm, publisher, bucketOpts) : undefined
    const runner = createPipelineRunner({ config, js, jsm, publisher, dedup, catalog: () => catalog, host, sink: () => sink, report, ...(marks ? { marks } : {}) })
    runner.preload(loaded.pipelines)
    // consumer lag and stored dead letters, read from JetStream when Prometheus scrapes
    const unregisterGauges = registerStreamGauges(jsm, () => runner.pipelines())
    stack.defer(async () => unregisterGauges())
    let sink: ClickHouseSink | undefined
    if (config.clickhouse) {
      sink = await startClickHouseSink({
        config: config.clickhouse,
        js,
        jsm,
        publisher,
        pipelines: () => runner.pipelines(),
        logger,
        ...(config.worker.maxInFlight ? { maxInFlight: config.worker.maxInFlight } : {}),
        ...(config.streams.maxMsgSize ? { maxMsgSize: config.streams.maxMsgSize } : {}),
        ...(config.worker.ackWaitMs ? { ackWaitMs: config.worker.ackWaitMs } : {}),
        ...(config.clickhouseWriter ? { writer: config.clickhouseWriter } : {}),
        report,
      })
      const opened = sink
      stack.defer(() => opened.close())
    }
    let mesh: MeshRuntime | undefined
    if (config.mesh) {
      // received cartridges go through the node's own plugin paths once it has them (retried until then)
      const cartridgeHost = () => cartridgeHostOf(node.plugins)
      mesh = await startMesh({ mesh: config.mesh, nc, js, jsm, publisher, catalog: () => catalog, logger, monitorUrl: server?.monitorUrl, cartridgeHost, streams: { ...(config.streams.maxBytes !== undefined ? { maxBytes: config.streams.maxBytes } : {}), ...(config.streams.maxAgeMs !== undefined ? { maxAgeMs: config.streams.maxAgeMs } : {}), ...bucketOpts } })
      const started = mesh
      stack.defer(() => started.close())
      const unregisterMeshGauges = registerMeshGauges(() => started.status())
      stack.defer(async () => unregisterMeshGauges())
    }
    const meshService = createMeshService(() => mesh)
    const meshResponder = serveMeshStatus(nc, meshService)
    stack.defer(async () => meshResponder.close())
    // the plugin service owns the approval and high-water buckets; the host checks against them
    const buckets = host ? { approvals: await openApprovals(js, bucketOpts), marks: await openHighWaterMarks(js, bucketOpts) } : undefined
    if (host && buckets) {
      host.attach(buckets)
      stack.defer(() => host.close())
    }
    const runningSet = runningSetWriter(js, (err) => logger.warn({ err }, 'could not record the running pipelines for other processes (omni dlq redrive); they run regardless'), bucketOpts)
    stack.defer(() => runningSet.close())
    // deferred before the apply: workers started by an apply that fails half way are drained too
    stack.defer(() => runner.close())
    // released before the runner: workers waiting on a ClickHouse that is down get a bounded
    // wait, then leave their events unacknowledged (redelivered later) instead of holding close()
    stack.defer(async () => sink?.stopWaiting())
    await runner.apply(loaded.pipelines)
    await runningSet.write(runner.pipelines())
    for (const line of await reconcileBucketReplicas(jsm, config.streams.replicas, config.mesh)) logger.warn(line)

    const pipelines = createPipelineService({
      config,
      runner,
      host,
      lookup,
      status,
      initial: loaded,
      isRunning: () => node.state === 'running',
      onApplied: (next) => {
        catalog = next.catalog
        return runningSet.write(runner.pipelines())
      },
    })
    stack.defer(() => pipelines.close())
    const ingest = createIngestService({ publisher, catalog: () => catalog, webhooks: () => pipelines.webhooks() })
    const plugins = createPluginService({ settings: config.plugins, js, status: () => host?.status() ?? [], reload: () => pipelines.reload(), running: () => runner.pipelines(), bucketOptions: bucketOpts, ...(buckets ? { buckets } : {}) })
    node.wire({
      ingest,
      pipelines,
      deadLetters: createDeadLetterService({ js, jsm, publisher, running: async () => (name) => runner.pipelines().some((p) => p.name === name) }),
      events: createEventQueryService({ js, clickhouse: () => sink?.ch }),
      catalog: createCatalogService({ catalog: () => catalog, pipelines: () => runner.pipelines(), plugins: () => host?.status() ?? [], clickhouse: () => sink?.ch }),
      plugins,
      cartridges: createCartridgeService({ plugins, ingest, js, bucketOptions: bucketOpts }),
      mesh: meshService,
      health: createHealthService({ nc, sink: () => sink, state: () => ({ state: node.state, failure: node.failure }) }),
      description: {
        nats: { url, ...(server ? { managed: { version: server.version, pid: server.pid, storeDir: server.storeDir } } : {}) },
        ...(sink
          ? { clickhouse: { description: sink.ch.description, database: sink.ch.config.database, eventsRetentionDays: sink.ch.config.eventsRetentionDays, rawRetentionDays: sink.ch.config.rawRetentionDays } }
          : {}),
        manifests: config.manifests,
        watching: config.watch,
      },
    })
    recordInternals(node, { nc, js, jsm, publisher, sink, runner, ...(mesh ? { mesh } : {}) })
    pipelines.watch()
    node.started()
    return node
  } catch (err) {
    // releasing closes the connection: that is not a failure of its own to report
    node.releasing()
    await stack.disposeAsync().catch((cause: unknown) => logger.error({ err: cause }, 'releasing a half-started node failed'))
    status.end()
    throw err
  }
}

/** How long the connection may take to drain before it is closed outright (a dead server never answers). */
const DRAIN_MS = 5_000

async function drainWithin(nc: NatsConnection, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms).unref()))
  const outcome = await Promise.race([nc.drain().then(() => 'drained' as const, () => 'failed' as const), late])
  clearTimeout(timer)
  if (outcome !== 'drained') await nc.close().catch(() => undefined)
}

async function startServer(serve: Extract<NodeConfig['nats'], { serve: unknown }>['serve'], auth: NatsCredentials | undefined, mesh: MeshConfig | undefined): Promise<ManagedNatsServer> {
  await mkdir(serve.storeDir, { recursive: true })
  if (serve.logFile) await mkdir(dirname(serve.logFile), { recursive: true })
  return startNatsServer({
    host: serve.host,
    port: serve.port,
    storeDir: serve.storeDir,
    syncInterval: serve.syncInterval,
    ...(serve.logFile ? { logFile: serve.logFile } : {}),
    ...(auth ? { auth } : {}),
    // a mesh node's server: its own domain, the hub's permissions, the leaf link
    ...(mesh ? { topology: meshServerTopology(mesh), serverName: mesh.node } : {}),
  })
}

function warnOnSlowServer(nc: NatsConnection, config: NodeConfig): void {
  if (!hasSlowMultiFilter(nc.info?.version ?? '')) return
  config.logger.warn(
    { version: nc.info?.version },
    'nats-server 2.10 delivers to consumers with several filter subjects (every pipeline has its sources plus its redrive subject) about 100x slower than 2.11+; `make setup` provisions a newer server',
  )
}

interface Services {
  readonly ingest: IngestService
  readonly pipelines: PipelineService
  readonly deadLetters: DeadLetterService
  readonly events: EventQueryService
  readonly catalog: CatalogService
  readonly plugins: PluginService
  readonly cartridges: CartridgeService
  readonly mesh: MeshService
  readonly health: () => Promise<Health>
  readonly description: NodeDescription
}

class NodeImpl extends Lifecycle implements OmniNode {
  #state: NodeState = 'starting'
  #failure: string | undefined
  #services: Services | undefined
  readonly #config: NodeConfig
  readonly #stack: AsyncDisposableStack
  readonly #status: ReturnType<typeof createStatusHub>

  constructor(config: NodeConfig, stack: AsyncDisposableStack, status: ReturnType<typeof createStatusHub>) {
    super()
    this.#config = config
    this.#stack = stack
    this.#status = status
  }

  wire(services: Services): void {
    this.#services = services
  }

  releasing(): void {
    this.#state = 'draining'
  }

  started(): void {
    // a failure during the start (the connection lost) keeps the failed state
    if (this.#state === 'starting') this.#state = 'running'
  }

  get state(): NodeState {
    return this.#state
  }

  get failure(): string | undefined {
    return this.#failure
  }

  #get(): Services {
    if (!this.#services) throw new Error('the node is not started')
    return this.#services
  }

  get ingest(): IngestService {
    return this.#get().ingest
  }
  get pipelines(): PipelineService {
    return this.#get().pipelines
  }
  get deadLetters(): DeadLetterService {
    return this.#get().deadLetters
  }
  get events(): EventQueryService {
    return this.#get().events
  }
  get catalog(): CatalogService {
    return this.#get().catalog
  }
  get plugins(): PluginService {
    return this.#get().plugins
  }
  get cartridges(): CartridgeService {
    return this.#get().cartridges
  }
  get mesh(): MeshService {
    return this.#get().mesh
  }

  health(): Promise<Health> {
    return this.#get().health()
  }

  describe(): NodeDescription {
    return this.#get().description
  }

  status(): AsyncIterableIterator<NodeStatus> {
    return this.#status.subscribe()
  }

  /** A worker or the connection died for good: say so loudly; `omni up` exits on it. */
  fail(reason: string): void {
    if (this.#state === 'draining' || this.#state === 'stopped' || this.#state === 'failed') return
    this.#state = 'failed'
    this.#failure = reason
    this.#config.logger.error({ reason }, 'node failed')
    this.#status.emit({ type: 'failed', reason })
  }

  watchConnection(nc: NatsConnection): void {
    void nc.closed().then((err) => this.fail(`NATS connection closed${err ? `: ${err.message}` : ''}`))
  }

  /** Drains and releases everything in reverse order of start; a failure stays visible after. */
  protected async release(): Promise<void> {
    const failed = this.#state === 'failed'
    this.#state = 'draining'
    try {
      await this.#stack.disposeAsync()
    } finally {
      this.#state = failed ? 'failed' : 'stopped'
      this.#status.emit({ type: 'stopped' })
      this.#status.end()
    }
  }
}
