// The benchmark runner: starts (or connects to) a server, runs each scenario in order on fresh
// streams, and returns the report; `omni bench` prints it and writes the JSON.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { omniError } from '../src/errors/mod.ts'
import { connectNats } from '../src/jetstream/connect.ts'
import { startNatsServer, type ManagedNatsServer } from '../src/server/mod.ts'
import { loadBenchFixtures } from './lib/fixtures.ts'
import { machineInfo } from './lib/machine.ts'
import type { PluginBenchOptions } from './lib/plugins.ts'
import { createBenchProfiler } from './lib/profiler.ts'
import type { ProfileSummary } from './lib/profile-summary.ts'
import type { BenchContext, BenchSizes, ProgressFactory, Scenario, ScenarioResult } from './lib/types.ts'
import { closeQuietly } from './lib/worker.ts'
import { writeReport, type BenchReport } from './report.ts'
import { consumeCeiling } from './scenarios/consume-ceiling.ts'
import { httpIngest } from './scenarios/http-ingest.ts'
import { latency } from './scenarios/latency.ts'
import { mesh } from './scenarios/mesh.ts'
import { overload } from './scenarios/overload.ts'
import { pipelineE2e } from './scenarios/pipeline-e2e.ts'
import { plugins } from './scenarios/plugins.ts'
import { publishCeiling } from './scenarios/publish-ceiling.ts'
import { sink } from './scenarios/sink.ts'
import { startup } from './scenarios/startup.ts'

/**
 * In run order: `omni up` to ready first (cheap, sized by nothing, and its child processes are
 * gone before anything is measured); then the ceilings, since later scenarios are sized and
 * compared by them; the sink right after the end-to-end run it is compared with.
 */
// the plugin stages run after overload (so its memory samples stay the worker's alone), HTTP
// ingest (its own fabric, closed after it) before them; the sink runs last: its engine threads
// and memory would otherwise weigh on everything before it
export const SCENARIOS: readonly Scenario[] = [startup, publishCeiling, consumeCeiling, pipelineE2e, latency, mesh, overload, httpIngest, plugins, sink]

/** Sized so a full run takes about two minutes on the 2-core machines. */
export const DEFAULT_EVENTS = 200_000
export const QUICK_EVENTS = 2000
/** the managed server fsyncs like `omni up` does */
const SYNC_INTERVAL = '1s'
export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url))

export interface BenchOptions {
  /** messages for the ceilings and the end-to-end run */
  readonly events?: number
  /** small sizes for smoke tests */
  readonly quick?: boolean
  /** where to write the JSON; default bench/results/bench-<date>.json; false writes nothing */
  readonly json?: string | false
  /** a running server; default: a managed one on a free port in a temp folder, removed after */
  readonly natsUrl?: string
  /**
   * the Docker engine socket for the container row of `plugins`; without one, or when no engine
   * answers there, that row is reported as skipped with the reason
   */
  readonly dockerSocket?: string
  /** scenario ids to run (default all) */
  readonly only?: readonly string[]
  /**
   * CPU profiles of the Omni worker's end-to-end rows and the /v1/events and webhook rows, into
   * this folder (true: bench/results/profiles/<run id>/); off when absent
   */
  readonly profile?: string | true
  readonly progress?: ProgressFactory
  readonly log?: (line: string) => void
}

export interface BenchRun {
  readonly report: BenchReport
  /** where the JSON went, if anywhere */
  readonly jsonPath: string | undefined
  /** with `profile`: where the profiles went and what they say */
  readonly profiles?: { readonly dir: string; readonly summaries: readonly ProfileSummary[] }
}

const silent: ProgressFactory = () => ({ increment() {}, update() {}, stop() {} })

function sizesFor(opts: BenchOptions): BenchSizes {
  const quick = opts.quick === true
  const events = opts.events ?? (quick ? QUICK_EVENTS : DEFAULT_EVENTS)
  return {
    events,
    latencySeconds: quick ? 2 : 10,
    overloadSeconds: quick ? 2 : 20,
    httpSeconds: quick ? 1 : 10,
    warmupSeconds: quick ? 0.25 : 1,
    phaseTimeoutSeconds: Math.max(quick ? 30 : 60, Math.ceil(events / 2000)),
    e2eCapSeconds: Math.max(30, Math.ceil(events / 6000)),
  }
}

function validate(opts: BenchOptions): void {
  const problems = []
  if (opts.events !== undefined && (!Number.isInteger(opts.events) || opts.events < 1 || opts.events > 10_000_000)) {
    problems.push({ where: 'events', message: 'must be an integer from 1 to 10000000' })
  }
  const known = new Set(SCENARIOS.map((s) => s.id))
  for (const id of opts.only ?? []) if (!known.has(id)) problems.push({ where: 'only', message: `unknown scenario "${id}" (known: ${[...known].join(', ')})` })
  if (typeof opts.profile === 'string' && opts.profile.trim() === '') problems.push({ where: 'profile', message: 'must be a folder path (or true for the default folder)' })
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid bench options', { problems })
}

/** Runs the selected scenarios once and returns (and by default writes) the report. */
export async function runBench(opts: BenchOptions = {}): Promise<BenchRun> {
  validate(opts)
  const log = opts.log ?? (() => {})
  const sizes = sizesFor(opts)
  const fixtures = await loadBenchFixtures()
  const started = performance.now()
  let server: ManagedNatsServer | undefined
  const dir = await mkdtemp(join(tmpdir(), 'omni-bench-'))
  try {
    let url = opts.natsUrl
    if (!url) {
      server = await startNatsServer({ port: 0, storeDir: join(dir, 'store'), syncInterval: SYNC_INTERVAL, stopTimeoutMs: 10_000 })
      url = server.url
      log(`started nats-server ${server.version} at ${url} (store in ${dir})`)
    }
    const nc = await connectNats(url, { name: 'omni-bench' })
    try {
      const results = new Map<string, ScenarioResult>()
      const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
      const profiler = opts.profile === undefined ? undefined : createBenchProfiler(opts.profile === true ? join(RESULTS_DIR, 'profiles', runId) : resolve(opts.profile))
      const ctx: BenchContext & PluginBenchOptions = {
        url,
        managed: server !== undefined,
        serverPid: server?.pid,
        nc,
        js: jetstream(nc),
        jsm: await jetstreamManager(nc),
        fixtures,
        runId,
        sizes,
        quick: opts.quick === true,
        tmpDir: dir,
        progress: opts.progress ?? silent,
        log,
        results,
        ...(opts.dockerSocket !== undefined ? { dockerSocket: opts.dockerSocket } : {}),
        ...(profiler ? { profiler } : {}),
      }
      const failures: { scenario: string; error: string }[] = []
      for (const scenario of SCENARIOS) {
        if (opts.only && !opts.only.includes(scenario.id)) continue
        log(`▸ ${scenario.id}: ${scenario.title}`)
        try {
          for (const row of await scenario.run(ctx)) results.set(row.id, row)
        } catch (err) {
          failures.push({ scenario: scenario.id, error: err instanceof Error ? err.message : String(err) })
          log(`  ${scenario.id} failed: ${failures.at(-1)?.error}`)
        }
      }
      const report: BenchReport = {
        machine: machineInfo(server?.version ?? nc.info?.version ?? 'unknown'),
        settings: {
          events: sizes.events,
          quick: ctx.quick,
          latencySeconds: sizes.latencySeconds,
          overloadSeconds: sizes.overloadSeconds,
          httpSeconds: sizes.httpSeconds,
          warmupSeconds: sizes.warmupSeconds,
          server: { managed: ctx.managed, url: withoutCredentials(url), ...(server ? { syncInterval: SYNC_INTERVAL } : {}) },
          nodeFlags: process.execArgv,
          ...(profiler ? { profileDir: profiler.dir } : {}),
        },
        scenarios: [...results.values()],
        failures,
        totalSeconds: (performance.now() - started) / 1000,
      }
      const jsonPath = opts.json === false ? undefined : resolve(opts.json ?? join(RESULTS_DIR, `bench-${report.machine.date.replace(/[:.]/g, '-')}.json`))
      if (jsonPath) await writeReport(report, jsonPath)
      return { report, jsonPath, ...(profiler ? { profiles: { dir: profiler.dir, summaries: profiler.summaries() } } : {}) }
    } finally {
      await closeQuietly(nc)
    }
  } finally {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** The URL as a report may show it: without a user or password in it. */
function withoutCredentials(url: string): string {
  const u = new URL(url)
  u.username = ''
  u.password = ''
  return u.toString()
}
