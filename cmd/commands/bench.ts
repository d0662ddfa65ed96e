import type { Command } from 'commander'
import type { NatsCredentials } from '../../src/server/mod.ts'
import { cliNatsCredentials } from '../lib/nats-credentials.ts'
import { DEFAULT_EVENTS, QUICK_EVENTS, runBench, SCENARIOS } from '../../bench/run.ts'
import { formatTable } from '../../bench/report.ts'
import { formatProfileSummaries } from '../../bench/lib/profile-summary.ts'
import { progressBar } from '../lib/progress.ts'
import { addEnvOption, resolveOption } from '../lib/options.ts'
import { parseIntOption } from '../lib/parse.ts'
import { DOCKER_SOCKET } from '../lib/plugin-options.ts'

interface BenchCliOptions {
  events?: number
  quick?: boolean
  json?: string
  nats?: string
  only?: string
  dockerSocket?: string
  profile?: string | true
}

export function registerBench(program: Command): void {
  const cmd = program
    .command('bench')
    .description(
      'Measure this machine in one run: raw JetStream publish and consume+ack ceilings, the pipeline end to end against a hand-written nats.js pipeline on the same events, ' +
        'latency at half that rate, worker memory at twice it, HTTP ingest and the WhatsApp webhook against a hand-written ingest route (publish, await the ack, 202) and an empty Fastify route, ' +
        'and one plugin stage in each sandbox runtime. Prints a table and writes JSON.',
    )
    .option('--events <n>', `messages for the ceilings and the end-to-end run (default ${DEFAULT_EVENTS}, ${QUICK_EVENTS} with --quick)`, parseIntOption('--events'))
    .option('--quick', 'small sizes and short phases: a smoke test, not a measurement')
    .option('--json <file>', 'where to write the results (default bench/results/bench-<date>.json)')
    .option('--nats <url>', 'use a running server; only bench streams and omni.evt.bench.* subjects are touched (default: a fresh local server in a temp folder)')
  addEnvOption(cmd, DOCKER_SOCKET, 'Docker engine socket for the container plugin row, which is skipped when none answers there')
    .option('--only <ids>', `comma-separated scenarios to run: ${SCENARIOS.map((s) => s.id).join(', ')}`)
    .option(
      '--profile [dir]',
      'record V8 CPU profiles of the bench process (where the Omni worker and the API run) during the pipeline-e2e worker rows and the /v1/events and webhook rows, ' +
        'as <row>.cpuprofile files (open in Chrome DevTools) plus summary.json in dir (default bench/results/profiles/<run id>/); prints the top costs in µs per event; those rows run slower while profiled',
    )
    .addHelpText('after', '\nRun it with nothing else busy: make bench (adds --stack-trace-limit=0, as production should).')
    .action(async (opts: BenchCliOptions) => {
      const { report, jsonPath, profiles } = await runBench({
        ...(opts.events !== undefined ? { events: opts.events } : {}),
        quick: opts.quick === true,
        ...(opts.json !== undefined ? { json: opts.json } : {}),
        ...(opts.nats !== undefined ? { natsUrl: withCredentials(opts.nats, await cliNatsCredentials(opts.nats)) } : {}),
        dockerSocket: resolveOption({ ...DOCKER_SOCKET, value: opts.dockerSocket }).value,
        ...(opts.only !== undefined ? { only: opts.only.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
        progress: progressBar,
        log: (line) => process.stderr.write(`${line}\n`),
      })
      process.stdout.write(`\n${formatTable(report)}`)
      if (profiles) {
        process.stdout.write(`\n${profiles.summaries.length > 0 ? formatProfileSummaries(profiles.summaries) : 'no profiled row ran (profiles cover pipeline-e2e and http-ingest)\n'}`)
        if (profiles.summaries.length > 0) process.stdout.write(`profiles written to ${profiles.dir}\n`)
      }
      if (jsonPath) process.stdout.write(`results written to ${jsonPath}\n`)
      if (report.failures.length > 0) process.exitCode = 1
    })
}

/**
 * The URL with the platform server's user and password in it, when there are any: the bench's
 * many connections (some in child processes) then all log in, and nothing else needs to know.
 */
function withCredentials(url: string, credentials: NatsCredentials | undefined): string {
  if (!credentials) return url
  const u = new URL(url)
  u.username = credentials.user
  u.password = credentials.password
  return u.toString()
}
