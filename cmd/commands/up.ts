import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { startFabric } from '../../src/node/fabric.ts'
import { startNatsServer, type ManagedNatsServer } from '../../src/server/mod.ts'
import { clickHouseConfigFrom, withClickHouseOptions, type ClickHouseCliOptions } from '../lib/clickhouse-options.ts'
import { pluginSettingsFrom, withPluginOptions, type PluginCliOptions } from '../lib/plugin-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath, resolveOption, type EnvOption } from '../lib/options.ts'
import { parseIntOption } from '../lib/parse.ts'
import { apiConfigFrom, withApiOptions, type ApiCliOptions } from '../lib/api-options.ts'
import { startApi, type ApiApp } from '../../src/api/mod.ts'

interface UpOptions extends ClickHouseCliOptions, PluginCliOptions, ApiCliOptions {
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
    .description('Run the platform: start a local nats-server (JetStream, data under --data) unless --nats is given, open ClickHouse (embedded under --data unless --clickhouse-url), load the manifests and run every pipeline until SIGINT/SIGTERM.')
    .option('--nats <url>', 'use an existing NATS server instead of starting one')
  addEnvOption(cmd, MANIFESTS, 'manifests folder (catalog and pipelines)')
    .option('--port <n>', 'client port of the local server', parseIntOption('--port'), 4222)
    .option('--no-watch', 'do not reload pipelines when their files change')
    .option('--sync-interval <value>', 'how often the local server fsyncs JetStream writes: a duration such as 1s, or always', '1s')
  addEnvOption(cmd, LOG_LEVEL, 'trace, debug, info, warn, error')
    .option('--no-clickhouse', 'run without ClickHouse: no event store, no stage outcomes')
  withClickHouseOptions(cmd, { retention: true })
  withPluginOptions(cmd)
  withApiOptions(cmd)
  cmd.action(async (opts: UpOptions) => {
      const logger = createLogger({ level: resolveOption({ ...LOG_LEVEL, value: opts.logLevel }).value })
      // bad ClickHouse settings fail before anything starts
      const clickhouse = opts.clickhouse ? clickHouseConfigFrom(opts) : false
      const plugins = pluginSettingsFrom(opts)
      const api = opts.api ? await apiConfigFrom(opts) : undefined
      let server: ManagedNatsServer | undefined
      let url = opts.nats
      if (!url) {
        const storeDir = resolve(opts.data, 'nats')
        await mkdir(storeDir, { recursive: true })
        server = await startNatsServer({ host: '127.0.0.1', port: opts.port, storeDir, syncInterval: opts.syncInterval, logFile: resolve(opts.data, 'nats-server.log') })
        url = server.url
      }
      let fabric
      try {
        fabric = await startFabric({
          natsUrl: url,
          manifests: manifestsPath(opts.manifests),
          lookup: getCartridge,
          logger,
          watch: opts.watch,
          clickhouse,
          plugins: { ...plugins, workDir: resolve(opts.data, 'sandbox') },
          // a fabric that lost its connection for good stops, so a supervisor can restart it
          onFailed: () => process.kill(process.pid, 'SIGTERM'),
          onSettled: (e) => {
            if (e.type === 'acked') logger.debug({ pipeline: e.pipeline, seq: e.seq, outcome: e.outcome.type, trace: e.outcome.trace }, 'event settled')
            else logger.warn(e, e.type === 'retry' ? 'event will be retried' : 'event dead-lettered')
          },
        })
      } catch (err) {
        await server?.close()
        throw err
      }
      let http: { app: ApiApp; url: string } | undefined
      if (api) {
        try {
          http = await startApi({ fabric, manifests: manifestsPath(opts.manifests) }, api.config, logger)
        } catch (err) {
          await fabric.close()
          await server?.close()
          throw err
        }
      }
      // the banner goes out in one write, so a reader never sees half of it
      const banner: string[] = []
      const out = { write: (line: string) => banner.push(line) }
      out.write(`Omni Fabric is running\n`)
      out.write(`  NATS        ${url}${server ? ` (local nats-server ${server.version}, pid ${server.pid}, data in ${server.storeDir})` : ''}\n`)
      out.write(`  ClickHouse  ${fabric.analytics ? `${fabric.analytics.ch.description}, database ${fabric.analytics.ch.config.database} (events kept ${fabric.analytics.ch.config.eventsRetentionDays} d, raw payloads ${fabric.analytics.ch.config.rawRetentionDays} d)` : 'off (--no-clickhouse)'}\n`)
      out.write(`  API         ${http ? `${http.url} (docs ${http.url}/docs; ${api?.tokenFile ? `admin token in ${api.tokenFile}` : `${api?.config.tokens.length} token(s) from ${api?.tokensFile}`})` : 'off (--no-api)'}\n`)
      out.write(`  manifests   ${manifestsPath(opts.manifests)}${opts.watch ? ' (watching for changes)' : ''}\n`)
      const installed = fabric.pluginStatus()
      out.write(`  plugins     ${plugins.dir}: ${installed.map((p) => (p.state === 'rejected' ? `${p.id} (rejected)` : `${p.id} ${p.version} ${p.runtime}/${p.tier}${p.state === 'running' ? ' running' : ''}`)).join(', ') || 'none'}; trust ${plugins.trust}, cluster ${plugins.cluster}\n`)
      out.write(`  event types ${fabric.catalog().entries.map((e) => e.type).join(', ') || 'none'}\n`)
      for (const w of fabric.webhooks().list()) {
        const where = http ? `${http.url}/v1/webhooks/${w.name}/${w.instances === 'any' ? '<instance>' : `{${w.instances.join(',')}}`}` : '(API off)'
        out.write(`  webhook     ${w.name}: ${w.adapter.name} at ${where}, ${w.auth ? `${w.auth.type} auth` : 'bearer token with the ingest scope'}\n`)
      }
      for (const p of fabric.pipelines()) {
        out.write(`  pipeline    ${p.name}: ${p.sources.join(', ')}\n`)
        out.write(`              ${p.levels.map((l) => l.map((s) => `${s.id}(${s.uses})`).join(' | ')).join(' → ')}\n`)
      }
      out.write(`Try: omni publish message.received '{"kind":"text","text":"hello","providerMessageId":"m1","fromSelf":false,"forwarded":false}' --provider whatsapp --instance phone-1\n`)
      out.write(`     omni tail        (in another terminal)      Stop with Ctrl-C.\n`)
      process.stdout.write(banner.join(''))

      const shutdown = async (signal: string) => {
        logger.info({ signal }, 'draining')
        const failure = fabric.failure
        // the API first: no request may reach a fabric that is draining; the rest closes even if
        // an earlier step fails (the failure is logged as the shutdown's)
        try {
          await http?.app.close()
        } finally {
          try {
            await fabric.close()
          } finally {
            await server?.close()
          }
        }
        if (failure) {
          logger.error({ failure }, 'stopped after a failure')
          process.exitCode = 1
        } else logger.info('stopped')
        logger.flush()
      }
      await new Promise<void>((done) => {
        const onSignal = (signal: NodeJS.Signals) => {
          process.off('SIGINT', onSignal)
          process.off('SIGTERM', onSignal)
          shutdown(signal).then(done, (err: unknown) => {
            logger.error({ err }, 'shutdown failed')
            process.exitCode = 1
            logger.flush()
            done()
          })
        }
        process.on('SIGINT', onSignal)
        process.on('SIGTERM', onSignal)
      })
    })
}
