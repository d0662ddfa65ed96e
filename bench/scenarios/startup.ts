// `omni up` to ready: the real CLI as a child process, each run in a fresh data folder (a first
// start: the stream set, the API token and, with the engine, the ClickHouse migrations), from
// spawn to the first 200 from GET /readyz. Once without ClickHouse, once with the embedded engine.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { timeOmniUp, UpFailed, type UpTiming } from '../lib/omni-up.ts'
import { quantile, round } from '../lib/stats.ts'
import type { BenchContext, Scenario, ScenarioResult } from '../lib/types.ts'

const RUNS = 3
const QUICK_RUNS = 1
/** far above either target: a start this slow is a failure to report, not a figure */
const READY_TIMEOUT_MS = 60_000
const OMNI = fileURLToPath(new URL('../../cmd/omni.ts', import.meta.url))

interface Variant {
  readonly id: string
  readonly title: string
  readonly clickhouse: boolean
  /** the goal of issue 15 */
  readonly targetSeconds: number
}

const VARIANTS: readonly Variant[] = [
  { id: 'startup', title: 'omni up to ready, no ClickHouse', clickhouse: false, targetSeconds: 2 },
  { id: 'startup.clickhouse', title: 'omni up to ready, embedded ClickHouse', clickhouse: true, targetSeconds: 5 },
]

/** Why the embedded engine cannot run here (the slim image leaves the chdb package out), or undefined. */
function engineMissing(): string | undefined {
  try {
    import.meta.resolve('chdb/connection')
    return undefined
  } catch (err) {
    return `the embedded ClickHouse engine (the chdb package) is not installed here: ${err instanceof Error ? err.message : String(err)}`
  }
}

function skipped(v: Variant, reason: string): ScenarioResult {
  return { id: v.id, scenario: 'startup', title: v.title, events: 0, seconds: 0, rate: 0, notes: `skipped: ${reason}`, details: { skipped: true, reason, targetSeconds: v.targetSeconds } }
}

/** What every command pays before it does anything: Node loading the CLI's modules (`omni --version`). */
async function cliLoadMs(): Promise<number> {
  const started = performance.now()
  await promisify(execFile)(process.execPath, ['--no-warnings', OMNI, '--version'], { timeout: 30_000 })
  return performance.now() - started
}

async function measure(ctx: BenchContext, v: Variant, runs: number): Promise<ScenarioResult> {
  const missing = v.clickhouse ? engineMissing() : undefined
  if (missing) return skipped(v, missing)
  const timings: UpTiming[] = []
  for (let i = 0; i < runs; i++) {
    const dataDir = await mkdtemp(join(ctx.tmpDir, `startup-${v.clickhouse ? 'ch' : 'plain'}-`))
    let t: UpTiming
    try {
      t = await timeOmniUp({ dataDir, clickhouse: v.clickhouse, timeoutMs: READY_TIMEOUT_MS })
    } catch (err) {
      // the engine's own refusal (a build without it) is a skip with its reason, not a failure
      if (v.clickhouse && err instanceof UpFailed && err.output.includes('OMNI_ERR_CLICKHOUSE_UNAVAILABLE')) return skipped(v, err.output.trim().split('\n').at(-1) ?? err.message)
      throw err
    } finally {
      // each run starts from nothing; the engine's folder is not left to pile up until the end
      await rm(dataDir, { recursive: true, force: true })
    }
    timings.push(t)
    ctx.log(`  ${v.id} run ${i + 1}: ready in ${round(t.readyMs, 0)} ms (banner ${round(t.bannerMs ?? Number.NaN, 0)} ms), stopped in ${round(t.stopMs, 0)} ms${t.killed ? ', killed' : ''}`)
  }
  const ready = timings.map((t) => t.readyMs).sort((a, b) => a - b)
  const p50 = quantile(ready, 0.5) / 1000
  const max = (ready.at(-1) ?? Number.NaN) / 1000
  const total = ready.reduce((s, ms) => s + ms, 0) / 1000
  const met = max <= v.targetSeconds
  const unclean = timings.filter((t) => t.killed || t.exitCode !== 0).length
  return {
    id: v.id,
    scenario: 'startup',
    title: v.title,
    events: runs,
    seconds: round(total, 3),
    // starts per second, so the table's columns keep their meaning (events / seconds)
    rate: round(runs / total, 3),
    notes: [
      `spawn → GET /readyz 200, ${runs === 1 ? '1 run in a fresh data folder' : `${runs} runs, each in a fresh data folder`}: p50 ${p50.toFixed(2)} s, max ${max.toFixed(2)} s (target ≤ ${v.targetSeconds} s in every run: ${met ? 'met' : 'MISSED'})`,
      unclean > 0 ? `${unclean} did not stop cleanly on SIGTERM` : '',
    ]
      .filter(Boolean)
      .join('; '),
    details: {
      runs,
      targetSeconds: v.targetSeconds,
      met,
      p50Seconds: round(p50, 3),
      maxSeconds: round(max, 3),
      readyMs: timings.map((t) => round(t.readyMs, 1)),
      bannerMs: timings.map((t) => (t.bannerMs === undefined ? null : round(t.bannerMs, 1))),
      stopMs: timings.map((t) => round(t.stopMs, 1)),
      exitCodes: timings.map((t) => t.exitCode),
      killed: timings.filter((t) => t.killed).length,
    },
  }
}

export const startup: Scenario = {
  id: 'startup',
  title: 'omni up to ready (API answering /readyz), without and with the embedded ClickHouse',
  async run(ctx) {
    const runs = ctx.quick ? QUICK_RUNS : RUNS
    // the machine's load says how far these figures are from a quiet machine's
    const load = loadavg().map((l) => round(l, 2))
    const loadMs = round(await cliLoadMs(), 1)
    ctx.log(`  load average ${load.join(' ')}; the CLI loads in ${loadMs} ms (omni --version)`)
    const rows: ScenarioResult[] = []
    for (const v of VARIANTS) {
      const row = await measure(ctx, v, runs)
      rows.push({ ...row, details: { ...row.details, loadAverage: load, cliLoadMs: loadMs } })
    }
    return rows
  },
}
