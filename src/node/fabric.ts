import { watch, type FSWatcher } from 'node:fs'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { startClickHouseSink, type ClickHouseSink, type ClickHouseSinkOptions } from '../clickhouse/sink.ts'
import type { ClickHouseConfig } from '../clickhouse/config.ts'
import { RECORDER } from '../clickhouse/recorder.ts'
import type { EventCatalog } from '../catalog/catalog.ts'
import { omniError } from '../errors/mod.ts'
import { connectNats } from '../jetstream/connect.ts'
import { createDedupStore, type DedupStore } from '../jetstream/dedup-store.ts'
import { createPublisher } from '../jetstream/publisher.ts'
import { hasSlowMultiFilter } from '../server/version.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { ensurePipelineConsumer, ensureStreams, type TopologyOptions } from '../jetstream/topology.ts'
import { loadManifests, loadManifestsOrThrow } from '../manifests/load.ts'
import type { Logger } from '../observability/logger.ts'
import { recordSettled } from '../observability/settled-metrics.ts'
import { createWebhookRegistry, type WebhookRegistry, type WebhookSource } from '../webhooks/mod.ts'
import type { CompiledPipeline } from '../pipeline/compile.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import { startPipelineWorker, type PipelineWorker, type SettledEvent } from '../pipeline/worker.ts'
import { createPluginHost, type PluginHost, type PluginHostOptions, type PluginStatus } from './plugin-host.ts'

export interface FabricOptions extends TopologyOptions {
  readonly natsUrl: string
  /** a manifests folder or file */
  readonly manifests: string
  readonly lookup: CartridgeLookup
  readonly logger: Logger
  /** reload pipelines when files under `manifests` change (default true) */
  readonly watch?: boolean
  readonly dedupTtlMs?: number
  readonly ackWaitMs?: number
  readonly batch?: number
  /** events of one pipeline in flight across all its workers: the consumer's max_ack_pending (default 4096) */
  readonly maxInFlight?: number
  readonly onSettled?: (event: SettledEvent) => void
  /** where events and stage outcomes land; absent or false runs without ClickHouse (nothing recorded) */
  readonly clickhouse?: ClickHouseConfig | false
  /** batch sizing and retry timing of the ClickHouse writers */
  readonly clickhouseWriter?: ClickHouseSinkOptions['writer']
  /**
   * Called right before an event is acknowledged, once everything it produced is durable (by
   * `pipeline` name, or RECORDER for the event store); a throw leaves it unacknowledged. A seam
   * for tests that crash or fail exactly between the writes and the ack.
   */
  readonly beforeAck?: (consumer: string, seq: number, attempt: number) => void
  /** called once when the fabric fails (its connection closed for good, a worker died) */
  readonly onFailed?: (reason: string) => void
  /** signed plugins pipelines may use as `plugin:<id>`; absent means none can be used */
  readonly plugins?: PluginHostOptions
}

export type FabricState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed'

export type ReloadResult =
  | { readonly type: 'reloaded'; readonly added: string[]; readonly changed: string[]; readonly removed: string[] }
  | { readonly type: 'rejected'; readonly problems: readonly { where: string; message: string }[] }

/** The running platform in one process: a connection, the streams, one worker per pipeline. */
export interface Fabric {
  readonly state: FabricState
  /** why the fabric failed, when state is 'failed' */
  readonly failure: string | undefined
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  catalog(): EventCatalog
  /** the webhook sources the manifests declare, replaced with them on reload */
  webhooks(): WebhookRegistry
  pipelines(): readonly CompiledPipeline[]
  workers(): readonly PipelineWorker[]
  /** the installed plugins: verified, running, or rejected with the reason */
  pluginStatus(): PluginStatus[]
  /** where installed plugins live and how they are checked; undefined when the fabric runs without plugins */
  pluginSettings(): PluginHostOptions | undefined
  /** the cartridges (and installed plugins) pipelines can use: what a reload validates against */
  lookup(): CartridgeLookup
  /** ClickHouse, when configured */
  readonly sink: ClickHouseSink | undefined
  /** Re-reads the manifests; a set with problems is rejected and the running one kept. */
  reload(): Promise<ReloadResult>
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Validates the manifests, prepares JetStream and starts every pipeline's worker. */
export async function startFabric(opts: FabricOptions): Promise<Fabric> {
  const host = opts.plugins ? createPluginHost(opts.plugins, opts.logger) : undefined
  await host?.scan()
  const lookup = host ? host.lookup(opts.lookup) : opts.lookup
  const loaded = await loadManifestsOrThrow(opts.manifests, lookup)
  const nc = await connectNats(opts.natsUrl, { name: 'omni-fabric' })
  if (hasSlowMultiFilter(nc.info?.version ?? '')) {
    opts.logger.warn(
      { version: nc.info?.version },
      'nats-server 2.10 delivers to consumers with several filter subjects (every pipeline has its sources plus its redrive subject) about 100x slower than 2.11+; `make setup` provisions a newer server',
    )
  }
  try {
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    await ensureStreams(jsm, opts)
    const dedup = await createDedupStore(js, opts.dedupTtlMs)
    const publisher = createPublisher(nc)
    await host?.attach(js)
    const fabric = new FabricImpl(opts, nc, js, jsm, publisher, dedup, loaded.catalog, lookup, host)
    fabric.setWebhooks(loaded.webhooks)
    fabric.preload(loaded.pipelines)
    if (opts.clickhouse) {
      fabric.sink = await startClickHouseSink({
        config: opts.clickhouse,
        js,
        jsm,
        publisher,
        pipelines: () => fabric.pipelines(),
        logger: opts.logger,
        ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
        ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
        ...(opts.clickhouseWriter ? { writer: opts.clickhouseWriter } : {}),
        onFailed: (reason) => fabric.fail(`recorder: ${reason}`),
        ...(opts.beforeAck ? { beforeAck: (seq: number, attempt: number) => opts.beforeAck?.(RECORDER, seq, attempt) } : {}),
      })
    }
    await fabric.apply(loaded.pipelines).catch(async (err: unknown) => {
      await fabric.close()
      throw err
    })
    fabric.watchManifests()
    fabric.watchConnection()
    return fabric
  } catch (err) {
    await host?.close()
    await nc.close().catch(() => undefined)
    throw err
  }
}

class FabricImpl implements Fabric {
  #state: FabricState = 'starting'
  #catalog: EventCatalog
  #pipelines = new Map<string, CompiledPipeline>()
  #workers = new Map<string, PipelineWorker>()
  #watcher: FSWatcher | undefined
  #reloading: Promise<ReloadResult> | undefined
  #closing: Promise<void> | undefined
  readonly #done = Promise.withResolvers<void>()
  readonly #opts: FabricOptions
  readonly #dedup: DedupStore
  readonly #lookup: CartridgeLookup
  readonly #host: PluginHost | undefined
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher & { close(): Promise<void> }
  sink: ClickHouseSink | undefined
  /**
   * The loaded pipelines as one array that changes only when the set does: the recorder caches
   * its subject matches by this array's identity. Set before the workers start, so events the
   * recorder sees meanwhile are matched against the pipelines about to run.
   */
  #snapshot: readonly CompiledPipeline[] = []

  constructor(
    opts: FabricOptions,
    nc: NatsConnection,
    js: JetStreamClient,
    jsm: JetStreamManager,
    publisher: AckPublisher & { close(): Promise<void> },
    dedup: DedupStore,
    catalog: EventCatalog,
    lookup: CartridgeLookup,
    host: PluginHost | undefined,
  ) {
    this.#lookup = lookup
    this.#host = host
    this.#opts = opts
    this.nc = nc
    this.js = js
    this.jsm = jsm
    this.publisher = publisher
    this.#dedup = dedup
    this.#catalog = catalog
  }

  get state(): FabricState {
    return this.#state
  }

  catalog(): EventCatalog {
    return this.#catalog
  }

  #webhooks: WebhookRegistry = createWebhookRegistry([])

  webhooks(): WebhookRegistry {
    return this.#webhooks
  }

  setWebhooks(sources: readonly WebhookSource[]): void {
    this.#webhooks = createWebhookRegistry(sources)
  }

  pipelines(): readonly CompiledPipeline[] {
    return this.#snapshot
  }

  preload(pipelines: readonly CompiledPipeline[]): void {
    this.#snapshot = pipelines
  }

  workers(): readonly PipelineWorker[] {
    return [...this.#workers.values()]
  }

  pluginStatus(): PluginStatus[] {
    return this.#host?.status() ?? []
  }

  pluginSettings(): PluginHostOptions | undefined {
    return this.#opts.plugins
  }

  lookup(): CartridgeLookup {
    return this.#lookup
  }

  /** Brings the running workers in line with `next`: start new ones, swap changed, drain removed. */
  async apply(next: readonly CompiledPipeline[]): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    const added: string[] = []
    const changed: string[] = []
    const removed: string[] = []
    // plugins are checked (rollback, approvals) and loaded before any worker uses them; a
    // refusal leaves the running set as it is
    await this.#host?.prepare([...next, ...this.#pipelines.values()])
    const nextNames = new Set(next.map((p) => p.name))
    for (const [name, worker] of this.#workers) {
      if (nextNames.has(name)) continue
      await worker.close()
      this.#workers.delete(name)
      this.#pipelines.delete(name)
      removed.push(name)
    }
    for (const p of next) {
      if (this.#pipelines.get(p.name)?.fingerprint === p.fingerprint && this.#workers.has(p.name)) continue
      await ensurePipelineConsumer(this.jsm, {
        pipeline: p.name,
        sources: p.sources,
        ...(this.#opts.ackWaitMs ? { ackWaitMs: this.#opts.ackWaitMs } : {}),
        ...(this.#opts.maxInFlight ? { maxAckPending: this.#opts.maxInFlight } : {}),
      })
      const worker = this.#workers.get(p.name)
      if (worker) {
        worker.replace(p)
        changed.push(p.name)
      } else {
        this.#workers.set(
          p.name,
          await startPipelineWorker({
            js: this.js,
            publisher: this.publisher,
            pipeline: p,
            catalog: () => this.#catalog,
            dedup: this.#dedup,
            ...(this.sink ? { outcomes: this.sink.outcomes } : {}),
            ...(this.#opts.beforeAck ? { beforeAck: (seq: number, attempt: number) => this.#opts.beforeAck?.(p.name, seq, attempt) } : {}),
            onOutcomesRejected: (pipeline, error) => this.#opts.logger.error({ pipeline, error }, 'ClickHouse refused the outcome rows of a dead-lettered event'),
            ...(this.#opts.batch ? { batch: this.#opts.batch } : {}),
            onSettled: (e) => {
              recordSettled(e)
              this.#opts.onSettled?.(e)
            },
            onHookFailed: (pipeline, error) => this.#opts.logger.warn({ pipeline, error }, 'an after-commit hook failed; the event was acknowledged'),
            onFailed: (reason) => this.fail(`pipeline ${p.name}: ${reason}`),
          }),
        )
        added.push(p.name)
      }
      this.#pipelines.set(p.name, p)
    }
    this.#snapshot = [...this.#pipelines.values()]
    // a reload that finishes while close() drains must not bring the fabric back to running
    if (this.#state === 'starting') this.#state = 'running'
    return { added, changed, removed }
  }

  /** A worker or the connection died for good: say so loudly; `omni up` exits on it. */
  fail(reason: string): void {
    if (this.#state === 'draining' || this.#state === 'stopped' || this.#state === 'failed') return
    this.#state = 'failed'
    this.failure = reason
    this.#opts.logger.error({ reason }, 'fabric failed')
    this.#opts.onFailed?.(reason)
  }

  failure: string | undefined

  watchConnection(): void {
    void this.nc.closed().then((err) => this.fail(`NATS connection closed${err ? `: ${err.message}` : ''}`))
  }

  reload(): Promise<ReloadResult> {
    // serialise reloads: a burst of file events must not apply two sets at once
    const run = async (): Promise<ReloadResult> => {
      if (this.#state !== 'running') throw omniError('OMNI_ERR_CONFIG', `cannot reload while ${this.#state}`)
      await this.#host?.scan()
      const loaded = await loadManifests(this.#opts.manifests, this.#lookup)
      if (loaded.problems.length > 0) {
        this.#opts.logger.error({ problems: loaded.problems }, 'manifests changed but are invalid; keeping the running pipelines')
        return { type: 'rejected', problems: loaded.problems }
      }
      let diff: Awaited<ReturnType<FabricImpl['apply']>>
      try {
        diff = await this.apply(loaded.pipelines)
      } catch (err) {
        const problem = { where: this.#opts.manifests, message: err instanceof Error ? err.message : String(err) }
        this.#opts.logger.error({ problems: [problem] }, 'pipelines could not be applied; keeping the running ones')
        return { type: 'rejected', problems: [problem] }
      }
      this.#catalog = loaded.catalog
      this.setWebhooks(loaded.webhooks)
      this.#opts.logger.info(diff, 'pipelines reloaded')
      return { type: 'reloaded', ...diff }
    }
    const next = (this.#reloading ?? Promise.resolve()).then(run, run)
    this.#reloading = next.catch(() => ({ type: 'rejected', problems: [] }) as ReloadResult)
    return next
  }

  #reloadTimer: NodeJS.Timeout | undefined

  watchManifests(): void {
    if (this.#opts.watch === false) return
    this.#watcher = watch(this.#opts.manifests, { recursive: true }, (_event, file) => {
      if (file && !/\.ya?ml$/.test(String(file))) return
      clearTimeout(this.#reloadTimer)
      // editors write files in several steps; wait for the burst to settle
      this.#reloadTimer = setTimeout(() => {
        if (this.#state !== 'running') return
        this.reload().catch((err: unknown) => this.#opts.logger.error({ err }, 'reload failed'))
      }, 250)
      this.#reloadTimer.unref()
    })
    // a folder that disappears or an exhausted inotify limit ends watching, not the process
    this.#watcher.on('error', (err) => this.#opts.logger.error({ err }, 'stopped watching the manifests; restart to pick up changes'))
    this.#watcher.unref()
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'draining'
      this.#watcher?.close()
      clearTimeout(this.#reloadTimer)
      await this.#reloading
      // reverse order of start: workers, then the publisher, then the connection
      await Promise.all([...this.#workers.values()].map((w) => w.close()))
      await this.sink?.close()
      await this.#host?.close()
      await this.publisher.close()
      await this.nc.drain().catch(() => undefined)
      this.#state = 'stopped'
      this.#done.resolve()
    })()
    return this.#closing
  }

  closed(): Promise<void> {
    return this.#done.promise
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
