import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { BenchFixtures } from './fixtures.ts'
import type { BenchProfiler } from './profiler.ts'

/** A progress display for one phase; the CLI passes cli-progress bars, tests pass nothing. */
export interface Progress {
  increment(n?: number): void
  update(n: number): void
  stop(): void
}
export type ProgressFactory = (label: string, total: number) => Progress

/** One row of the results table (a scenario may report several, e.g. two publish styles). */
export interface ScenarioResult {
  /** stable id for machines: `publish-ceiling.fast`, `pipeline-e2e`, … */
  readonly id: string
  readonly scenario: string
  readonly title: string
  readonly events: number
  readonly seconds: number
  /** events per second */
  readonly rate: number
  /** rate divided by the ceiling named in `ratioTo` */
  readonly ratio?: number
  readonly ratioTo?: string
  readonly notes: string
  /** everything else measured (latency percentiles, memory samples, CPU use, …) */
  readonly details: Readonly<Record<string, unknown>>
}

/** Scenario sizes; `quick` shrinks every one of them for smoke tests. */
export interface BenchSizes {
  /** messages for the ceilings and the end-to-end run */
  readonly events: number
  readonly latencySeconds: number
  readonly overloadSeconds: number
  /** each measured HTTP load run */
  readonly httpSeconds: number
  /** excluded from the latency percentiles while the worker and JIT settle */
  readonly warmupSeconds: number
  /** upper bound on any single measured phase, whatever happens */
  readonly phaseTimeoutSeconds: number
  /** the end-to-end run stops here even if events are left (and says so) */
  readonly e2eCapSeconds: number
}

/** What every scenario gets: a connection for setup, the fixtures, and earlier results. */
export interface BenchContext {
  readonly url: string
  /** true when the bench started the server itself: streams may be deleted outright */
  readonly managed: boolean
  /** the managed server's pid, for CPU accounting; undefined with --nats */
  readonly serverPid: number | undefined
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly fixtures: BenchFixtures
  /** unique per run: keeps idempotency keys and stream names of separate runs apart */
  readonly runId: string
  readonly sizes: BenchSizes
  readonly quick: boolean
  /** a temp folder of this run, removed with it (the embedded ClickHouse lives under it) */
  readonly tmpDir: string
  readonly progress: ProgressFactory
  readonly log: (line: string) => void
  /** rows of the scenarios that already ran, by row id */
  readonly results: ReadonlyMap<string, ScenarioResult>
  /** set by `--profile`: the end-to-end and ingest rows run under a CPU profile */
  readonly profiler?: BenchProfiler
}

/** One benchmark scenario: one file under bench/scenarios/. */
export interface Scenario {
  readonly id: string
  readonly title: string
  run(ctx: BenchContext): Promise<ScenarioResult[]>
}

/**
 * The fastest row of a scenario that already ran (e.g. the consume+ack ceiling, the best
 * end-to-end rate), which later scenarios are compared with or sized by.
 */
/** The end-to-end rate with the consumer as deployed: latency and overload are paced from it. */
export function deployedE2e(ctx: BenchContext): { readonly rate: number; readonly id: string } | undefined {
  const row = [...ctx.results.values()].find((r) => r.id === 'pipeline-e2e' && r.rate > 0)
  if (row) return { rate: row.rate, id: row.id }
  // the hand-written pipeline's rows share the scenario; they are no rate of the worker's, and
  // the no-stages diagnostic runs a pipeline other than the bench's
  let best: { rate: number; id: string } | undefined
  for (const r of ctx.results.values()) {
    if (r.scenario === 'pipeline-e2e' && r.id.startsWith('pipeline-e2e') && r.id !== 'pipeline-e2e.no-stages' && r.rate > (best?.rate ?? 0)) best = { rate: r.rate, id: r.id }
  }
  return best
}

export function bestRow(ctx: BenchContext, scenario: string): { readonly rate: number; readonly id: string } | undefined {
  let best: { rate: number; id: string } | undefined
  for (const r of ctx.results.values()) {
    if (r.scenario === scenario && r.rate > 0 && (!best || r.rate > best.rate)) best = { rate: r.rate, id: r.id }
  }
  return best
}
