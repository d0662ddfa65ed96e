import { resolve } from 'node:path'
import type { ClickHouseSinkOptions } from '../clickhouse/sink.ts'
import type { ClickHouseConfig } from '../clickhouse/config.ts'
import { omniError, type Problem } from '../errors/mod.ts'
import { natsUrls } from '../jetstream/connect.ts'
import { replicasProblem } from '../jetstream/replicas.ts'
import type { TopologyOptions } from '../jetstream/topology.ts'
import type { NatsCredentials } from '../server/mod.ts'
import type { Logger } from '../observability/logger.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import type { DataLock } from './data-lock.ts'
import type { MeshConfig } from '../mesh/config.ts'
import type { PluginHostOptions } from './plugin-host.ts'

/** Where the node's NATS is: a server by URL, or one the node starts and stops itself. */
export type NatsPlacement =
  | { readonly url: string; readonly credentials?: NatsCredentials }
  | {
      readonly serve: {
        /**
         * Where the server's credentials are kept (made on first start, mode 0600): the server
         * admits no anonymous client, and the CLI reads this file to connect
         */
        readonly credentialsFile?: string
        readonly host: string
        readonly port: number
        /** the JetStream store folder */
        readonly storeDir: string
        /** a duration such as 1s, or always */
        readonly syncInterval: string
        readonly logFile?: string
      }
    }

/** How a node is started; `compileNodeConfig` fills the defaults and checks it once. */
export interface NodeOptions {
  readonly nats: NatsPlacement
  /** a manifests folder or file */
  readonly manifests: string
  readonly logger: Logger
  /** the cartridges pipelines may use (default: the built-in ones) */
  readonly lookup: CartridgeLookup
  /** reload pipelines when files under `manifests` change (default true) */
  readonly watch?: boolean
  /** stream settings */
  readonly streams?: Omit<TopologyOptions, 'mode'>
  readonly worker?: {
    readonly dedupTtlMs?: number
    readonly ackWaitMs?: number
    /** messages pulled per request (default 256) */
    readonly batch?: number
    /** events of one pipeline in flight across all its workers: the consumer's max_ack_pending (default 4096) */
    readonly maxInFlight?: number
  }
  /** where events and stage outcomes land; absent or false runs without ClickHouse (nothing recorded) */
  readonly clickhouse?: ClickHouseConfig | false
  /** batch sizing and retry timing of the ClickHouse writers */
  readonly clickhouseWriter?: ClickHouseSinkOptions['writer']
  /** signed plugins pipelines may use as `plugin:<id>`; absent means none can be used */
  readonly plugins?: PluginHostOptions
  /**
   * The data folder this node owns (its nats-server store, embedded ClickHouse, sandboxes),
   * locked by the caller before it touched anything there; released last when the node closes.
   */
  readonly dataLock?: DataLock
  /**
   * How this node joins the mesh (src/mesh): its nats-server gets a JetStream domain, leaf-node
   * settings and the hub's permissions, and the node exports and receives events by visibility
   */
  readonly mesh?: MeshConfig
  /**
   * Test seam, for fault injection only: called right before an event is acknowledged, once
   * everything it produced is durable (by pipeline name, or `recorder`); a throw leaves it
   * unacknowledged.
   */
  readonly faults?: { readonly beforeAck?: (consumer: string, seq: number, attempt: number) => void }
}

/** The options after defaults and checks: what the node runs on, frozen. */
export interface NodeConfig extends Omit<NodeOptions, 'watch' | 'clickhouse' | 'manifests'> {
  readonly manifests: string
  readonly watch: boolean
  readonly clickhouse: ClickHouseConfig | false
  readonly streams: Omit<TopologyOptions, 'mode'>
  readonly worker: NonNullable<NodeOptions['worker']>
}

/** Options → defaults → checked → frozen, once; every problem is reported with its option path. */
export function compileNodeConfig(opts: NodeOptions): NodeConfig {
  const problems: Problem[] = []
  // a cluster is given as its servers' URLs, comma-separated: the client fails over between them
  if ('url' in opts.nats) for (const url of natsUrls(opts.nats.url)) if (!/^(nats|tls|wss?):\/\/./.test(url)) problems.push({ where: 'nats.url', message: `"${url}" is not a NATS URL (nats://host:port)` })
  // ",," (a list of unset variables) names no server: the client would take its default, localhost
  if ('url' in opts.nats && natsUrls(opts.nats.url).length === 0) problems.push({ where: 'nats.url', message: `"${opts.nats.url}" has no NATS URL in it (nats://host:port, or a cluster's URLs separated by commas)` })
  if ('serve' in opts.nats) {
    const { port } = opts.nats.serve
    if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push({ where: 'nats.serve.port', message: `${port} is not a port` })
  }
  if (opts.manifests.trim() === '') problems.push({ where: 'manifests', message: 'must name a folder or file' })
  for (const [k, v] of Object.entries(opts.worker ?? {})) {
    if (v !== undefined && (!Number.isInteger(v) || v <= 0)) problems.push({ where: `worker.${k}`, message: `must be a positive integer, got ${String(v)}` })
  }
  for (const k of ['maxBytes', 'rawMaxBytes'] as const) {
    const v = opts.streams?.[k]
    // -1 is JetStream's "no limit"; 0 would read as none to JetStream and as "nothing" to a person
    if (v !== undefined && (!Number.isSafeInteger(v) || (v < 1 && v !== -1))) problems.push({ where: `streams.${k}`, message: `must be a byte count above 0, or -1 for no limit, got ${String(v)}` })
  }
  const replicas = replicasProblem(opts.streams?.replicas)
  if (replicas) problems.push({ where: 'streams.replicas', message: replicas })
  // the server the node starts itself is a single one: a second copy has nowhere to go
  else if ('serve' in opts.nats && (opts.streams?.replicas ?? 1) > 1) problems.push({ where: 'streams.replicas', message: `${String(opts.streams?.replicas)} copies need a NATS cluster: give its URLs (--nats), the server the node starts is a single one` })
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', `${problems.length} invalid node option(s)`, { problems })
  return Object.freeze({
    ...opts,
    manifests: resolve(opts.manifests),
    watch: opts.watch ?? true,
    clickhouse: opts.clickhouse ?? false,
    streams: Object.freeze({ ...opts.streams }),
    worker: Object.freeze({ ...opts.worker }),
  })
}
