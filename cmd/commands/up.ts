import { resolve } from 'node:path'
import type { Command } from 'commander'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { createLogger, type Logger } from '../../src/observability/logger.ts'
import { lockDataFolder, startNode, type OmniNode } from '../../src/node/mod.ts'
import { banner } from '../lib/banner.ts'
import { cliNatsCredentials } from '../lib/nats-credentials.ts'
import { clickHouseConfigFrom, withClickHouseOptions, type ClickHouseCliOptions } from '../lib/clickhouse-options.ts'
import { pluginSettingsFrom, withPluginOptions, type PluginCliOptions } from '../lib/plugin-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath, resolveOption, type EnvOption } from '../lib/options.ts'
import { parseIntOption } from '../lib/parse.ts'
import { apiConfigFrom, withApiOptions, type ApiCliOptions } from '../lib/api-options.ts'
import { streamSettingsFrom, withStreamOptions, type StreamCliOptions } from '../lib/stream-options.ts'
import { meshConfigFrom, withMeshOptions, type MeshCliOptions } from '../lib/mesh-options.ts'
import { startApi } from '../../src/api/mod.ts'

interface UpOptions extends ClickHouseCliOptions, PluginCliOptions, ApiCliOptions, StreamCliOptions, MeshCliOptions {
  clickhouse: boolean
  nats?: string
  manifests?: string
  data: string
  port: number
  watch: boolean
  syncInterval: string
  logLevel?: string
}

const LOG_LEVEL: EnvOption<string> = { flags: '--log-level <level>', env: 'OMNI_LOG_LEVEL', fallback: 'info' }

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('Run the platform: start a local nats-server (JetStream, data under --data) unless --nats is given, open ClickHouse (embedded under --data unless --clickhouse-url), load the manifests and run every pipeline until SIGINT/SIGTERM. With --mesh FILE (or the --mesh-* flags) the node joins the mesh: its nats-server gets its own JetStream domain, the leaf-node link to its hub (or, on a hub, the leaf listener and each member\'s permissions); a hub that does not answer or refuses the credentials stops the start.')
    .option('--nats <url>', 'use an existing NATS server instead of starting one; for a cluster, its servers\' URLs separated by commas (nats://a:4222,nats://b:4222,nats://c:4222)')
  addEnvOption(cmd, MANIFESTS, 'manifests folder (catalog and pipelines)')
    .option('--port <n>', 'client port of the local server', parseIntOption('--port'), 4222)
    .option('--no-watch', 'do not reload pipelines when their files change')
    .option('--sync-interval <value>', 'how often the local server fsyncs JetStream writes. always (the default): an acknowledged event is on disk before its ack, so a power loss or a kernel crash loses nothing. A duration such as 1s is faster but may lose up to that much acknowledged data in such a crash (a crash of nats-server alone loses nothing either way)', 'always')
  addEnvOption(cmd, LOG_LEVEL, 'trace, debug, info, warn, error')
    .option('--no-clickhouse', 'run without ClickHouse: no event store, no stage outcomes')
  withStreamOptions(cmd)
  withClickHouseOptions(cmd, { retention: true })
  withPluginOptions(cmd)
  withApiOptions(cmd)
  withMeshOptions(cmd)
  cmd.action(async (opts: UpOptions) => {
    const logger = createLogger({ level: resolveOption({ ...LOG_LEVEL, value: opts.logLevel }).value })
    // bad settings fail before anything starts
    const clickhouse = opts.clickhouse ? clickHouseConfigFrom(opts) : false
    const plugins = pluginSettingsFrom(opts)
    const streams = streamSettingsFrom(opts)
    const mesh = await meshConfigFrom(opts, (message) => logger.warn({ mesh: opts.mesh ?? 'the --mesh-* flags' }, message))
    // the data folder is this process's before anything in it is read or written; the node gives it back
    const dataLock = await lockDataFolder(resolve(opts.data))
    const api = opts.api
      ? await apiConfigFrom(opts).catch(async (err: unknown) => {
          await dataLock.release()
          throw err
        })
      : undefined
    // the server it starts admits only the platform's user; an existing one may need credentials too
    const credentials = opts.nats ? await cliNatsCredentials(opts.nats) : undefined
    const nats = opts.nats
      ? { url: opts.nats, ...(credentials ? { credentials } : {}) }
      : {
          serve: {
            host: '127.0.0.1',
            port: opts.port,
            storeDir: resolve(opts.data, 'nats'),
            syncInterval: opts.syncInterval,
            logFile: resolve(opts.data, 'nats-server.log'),
            credentialsFile: resolve(opts.data, 'nats-credentials'),
          },
        }
    const manifests = manifestsPath(opts.manifests)
    // a signal during the start stops the node as soon as it is up (a half-started one releases itself)
    const stop = Promise.withResolvers<string>()
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.resolve(signal))
    const node = await startNode({ nats, manifests, lookup: getCartridge, logger, watch: opts.watch, clickhouse, plugins, dataLock, streams, ...(mesh ? { mesh } : {}) })
    void followStatus(node, logger, () => stop.resolve('failure'))
    // the API owns the node from here: closing it answers what is in flight, then closes the node
    const http = api
      ? await startApi(node, api.config, logger, { owns: true }).catch(async (err: unknown) => {
          await node.close()
          throw err
        })
      : undefined
    process.stdout.write(banner(node, { api: http ? { url: http.url, tokens: api?.tokenFile ? `admin token in ${api.tokenFile}` : `${api?.config.tokens.length} token(s) from ${api?.tokensFile}` } : undefined, plugins, ...(opts.nats ? {} : { natsCredentials: resolve(opts.data, 'nats-credentials') }), ...(mesh ? { mesh } : {}) }))
    const reason = await stop.promise
    logger.info({ reason }, 'draining')
    try {
      // the API first: no request may reach a node that is draining
      await http?.app.close()
    } catch (err) {
      logger.error({ err }, 'shutdown failed')
      process.exitCode = 1
    } finally {
      // also when the API could not close: the node and its nats-server never outlive the command
      await node.close()
    }
    if (node.failure) {
      logger.error({ failure: node.failure }, 'stopped after a failure')
      process.exitCode = 1
    } else logger.info('stopped')
    logger.flush()
  })
}

/** Logs what the node reports; a failure for good stops `omni up`, so a supervisor can restart it. */
async function followStatus(node: OmniNode, logger: Logger, onFailed: () => void): Promise<void> {
  for await (const s of node.status()) {
    if (s.type === 'acked') logger.debug({ pipeline: s.pipeline, seq: s.seq, outcome: s.outcome.type, outcomes: s.outcome.outcomes }, 'event settled')
    else if (s.type === 'retry') logger.warn(s, 'event will be retried')
    else if (s.type === 'dead-lettered') logger.warn(s, 'event dead-lettered')
    else if (s.type === 'failed') onFailed()
  }
}
