/**
 * The platform as its own OS process, for the ledger's faults (SIGKILL, SIGTERM):
 *   node bench/ledger/platform-child.ts   (everything from OMNI_LEDGER_* variables)
 * A node over startNode with the ledger manifests and embedded ClickHouse. Prints `ready` once
 * consuming, `acked <consumer> <seq>` after acks it is asked to count, `stopped` on a clean
 * SIGTERM. Faults, all off unless set:
 *   OMNI_LEDGER_KILL_AT=<consumer>:<n>   SIGKILL itself at the n-th ack of that consumer (the
 *     pipeline's: after its outputs were published; `recorder`: after its ClickHouse insert)
 *   OMNI_LEDGER_CH_DOWN_MS=<ms>           every ClickHouse insert fails for that long after ready
 *   OMNI_LEDGER_CH_SLOW_MS=<ms>           every ClickHouse insert is delayed that long
 * OMNI_LEDGER_PLUGINS (JSON: the plugin host options) lets pipelines use signed plugins.
 * OMNI_LEDGER_INGEST_ONLY=1 runs without ClickHouse (give it manifests without pipelines): a
 * platform that only takes events in, while nothing consumes them.
 * OMNI_LEDGER_NATS_CREDENTIALS (JSON {user, password}) logs in; OMNI_LEDGER_MESH (JSON: a
 * MeshConfig) makes it a mesh node on the server the harness runs with that mesh's topology.
 * OMNI_LEDGER_REPLICAS=<n> gives every stream and bucket it creates n copies (a NATS cluster's URLs,
 * comma-separated, in OMNI_LEDGER_NATS_URL); OMNI_LEDGER_REPORT_ACKS=<consumer> prints
 * `acked <consumer> <seq>` before each ack of that consumer (which process handled which event).
 * OMNI_LEDGER_API_TOKEN starts the HTTP API on a free loopback port with that ingest token and
 * prints `api <url>` before `ready`.
 */
import { resolveApiConfig, startApi } from '../../src/api/mod.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { nodeInternals } from '../../src/node/internals.ts'
import { startNode } from '../../src/node/mod.ts'
import type { PluginHostOptions } from '../../src/node/plugin-host.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { createLogger } from '../../src/observability/logger.ts'
import type { NatsCredentials } from '../../src/server/mod.ts'
import { ledgerLookup } from './cartridges.ts'

const env = (name: string): string | undefined => process.env[`OMNI_LEDGER_${name}`]
const natsUrl = env('NATS_URL')
const manifests = env('MANIFESTS')
const data = env('DATA')
if (!natsUrl || !manifests || !data) {
  process.stderr.write('platform-child: OMNI_LEDGER_NATS_URL, OMNI_LEDGER_MANIFESTS and OMNI_LEDGER_DATA are required\n')
  process.exit(2)
}
const [killConsumer, killAt] = (env('KILL_AT') ?? '').split(':')
const reportAcks = env('REPORT_ACKS')
const replicas = env('REPLICAS') ? Number(env('REPLICAS')) : undefined
let acks = 0

const logger = createLogger({ level: env('LOG_LEVEL') ?? 'error', destination: process.stderr })
const credentials = env('NATS_CREDENTIALS') ? (JSON.parse(env('NATS_CREDENTIALS') as string) as NatsCredentials) : undefined
const mesh = env('MESH') ? (JSON.parse(env('MESH') as string) as MeshConfig) : undefined
const node = await startNode({
  nats: { url: natsUrl, ...(credentials ? { credentials } : {}) },
  ...(mesh ? { mesh } : {}),
  manifests,
  lookup: ledgerLookup,
  logger,
  watch: env('WATCH') === '1',
  clickhouse: env('INGEST_ONLY') === '1' ? false : resolveClickHouseConfig({ dataDir: data, database: 'ledger' }),
  clickhouseWriter: { flushMs: 20 },
  ...(replicas !== undefined ? { streams: { replicas } } : {}),
  ...(env('PLUGINS') ? { plugins: JSON.parse(env('PLUGINS') as string) as PluginHostOptions } : {}),
  // 0 leaves the node's own default (the bench measures the node as `omni up` runs it)
  worker: { ...(Number(env('ACK_WAIT_MS') ?? 2000) > 0 ? { ackWaitMs: Number(env('ACK_WAIT_MS') ?? 2000) } : {}), ...(Number(env('MAX_IN_FLIGHT') ?? 256) > 0 ? { maxInFlight: Number(env('MAX_IN_FLIGHT') ?? 256) } : {}) },
  ...((killConsumer && killAt) || reportAcks
    ? {
        faults: {
          beforeAck: (consumer: string, seq: number) => {
            if (consumer === reportAcks) process.stdout.write(`acked ${consumer} ${seq}\n`)
            if (!killConsumer || !killAt || consumer !== killConsumer || ++acks < Number(killAt)) return
            // everything this event produced is durable and its ack not sent: the worst moment
            process.stdout.write(`crashing ${consumer}\n`)
            process.kill(process.pid, 'SIGKILL')
          },
        },
      }
    : {}),
})

// ClickHouse faults wrap the one client instance the sink writes through; nothing in src changes
const sink = nodeInternals(node).sink
const downMs = Number(env('CH_DOWN_MS') ?? 0)
const slowMs = Number(env('CH_SLOW_MS') ?? 0)
if (sink && (downMs > 0 || slowMs > 0)) {
  const client = sink.ch.client
  const insert = client.insert.bind(client)
  const downUntil = Date.now() + downMs
  client.insert = (async (params: Parameters<typeof insert>[0]) => {
    if (Date.now() < downUntil) throw new Error('ledger fault: ClickHouse is down')
    if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs))
    return insert(params)
  }) as typeof client.insert
}

const token = env('API_TOKEN')
const api = token
  ? await startApi(node, resolveApiConfig({ host: '127.0.0.1', port: 0, rateLimit: 10_000_000, tokens: [{ name: 'ledger', token, scopes: ['ingest'] }] }), logger)
  : undefined
if (api) process.stdout.write(`api ${api.url}\n`)

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  setTimeout(() => process.exit(3), 15_000).unref()
  // the API first: nothing is accepted that the closing node could not keep
  void (api ? api.app.close() : Promise.resolve()).then(() => node.close()).then(() => {
    process.stdout.write('stopped\n')
    process.exit(0)
  })
}
process.on('SIGTERM', stop)
// if the harness dies, do not linger
const parent = process.ppid
setInterval(() => process.ppid !== parent && stop(), 500).unref()
process.stdout.write('ready\n')
