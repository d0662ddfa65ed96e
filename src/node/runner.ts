import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { ClickHouseSink } from '../clickhouse/sink.ts'
import type { DedupStore } from '../jetstream/dedup-store.ts'
import type { SettledMarks } from '../jetstream/settled-marks.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { ensurePipelineConsumer } from '../jetstream/topology.ts'
import type { Report } from '../jetstream/report.ts'
import type { CompiledPipeline } from '../pipeline/compile.ts'
import { startPipelineWorker, type PipelineWorker, type WorkerStatus } from '../pipeline/worker.ts'
import { Lifecycle } from '../util/lifecycle.ts'
import type { NodeConfig } from './config.ts'
import type { PluginHost } from './plugin-host.ts'

export interface RunnerDeps {
  readonly config: NodeConfig
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly dedup: DedupStore
  readonly catalog: () => EventCatalog
  readonly host: PluginHost | undefined
  /** ClickHouse, once it is open (the runner is made before it, since the recorder asks it for the pipelines) */
  readonly sink: () => ClickHouseSink | undefined
  /** where workers mark outputs published while their outcome rows wait (with ClickHouse only) */
  readonly marks?: SettledMarks
  /** what every worker reports through */
  readonly report: Report<WorkerStatus>
}

export interface AppliedSet {
  readonly added: string[]
  readonly changed: string[]
  readonly removed: string[]
}

/** One worker per pipeline, brought in line with a new set of pipelines as a whole. */
export interface PipelineRunner {
  /** the running set, as one array that changes only when the set does */
  pipelines(): readonly CompiledPipeline[]
  workers(): readonly PipelineWorker[]
  /** names the set about to run, before its workers start (the recorder matches subjects against it) */
  preload(pipelines: readonly CompiledPipeline[]): void
  /** starts new workers, swaps changed ones in place, drains removed ones */
  apply(next: readonly CompiledPipeline[]): Promise<AppliedSet>
  /** drains every worker; idempotent */
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export function createPipelineRunner(deps: RunnerDeps): PipelineRunner {
  return new PipelineRunnerImpl(deps)
}

class PipelineRunnerImpl extends Lifecycle implements PipelineRunner {
  readonly #deps: RunnerDeps
  readonly #pipelines = new Map<string, CompiledPipeline>()
  readonly #workers = new Map<string, PipelineWorker>()
  /**
   * The loaded pipelines as one array that changes only when the set does: the recorder caches
   * its subject matches by this array's identity.
   */
  #snapshot: readonly CompiledPipeline[] = []

  constructor(deps: RunnerDeps) {
    super()
    this.#deps = deps
  }

  pipelines(): readonly CompiledPipeline[] {
    return this.#snapshot
  }

  workers(): readonly PipelineWorker[] {
    return [...this.#workers.values()]
  }

  preload(pipelines: readonly CompiledPipeline[]): void {
    this.#snapshot = pipelines
  }

  async apply(next: readonly CompiledPipeline[]): Promise<AppliedSet> {
    const { config, host } = this.#deps
    const added: string[] = []
    const changed: string[] = []
    const removed: string[] = []
    // plugins are checked (rollback, approvals) and loaded before any worker uses them; a
    // refusal leaves the running set as it is
    await host?.prepare([...next, ...this.#pipelines.values()])
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
      await ensurePipelineConsumer(this.#deps.jsm, {
        pipeline: p.name,
        sources: p.sources,
        ...(config.worker.ackWaitMs ? { ackWaitMs: config.worker.ackWaitMs } : {}),
        ...(config.worker.maxInFlight ? { maxAckPending: config.worker.maxInFlight } : {}),
      })
      const worker = this.#workers.get(p.name)
      if (worker) {
        worker.replace(p)
        changed.push(p.name)
      } else {
        this.#workers.set(p.name, await this.#start(p))
        added.push(p.name)
      }
      this.#pipelines.set(p.name, p)
    }
    this.#snapshot = [...this.#pipelines.values()]
    return { added, changed, removed }
  }

  #start(p: CompiledPipeline): Promise<PipelineWorker> {
    const { config } = this.#deps
    const sink = this.#deps.sink()
    return startPipelineWorker({
      js: this.#deps.js,
      publisher: this.#deps.publisher,
      pipeline: p,
      catalog: this.#deps.catalog,
      dedup: this.#deps.dedup,
      ...(sink ? { outcomes: sink.outcomes } : {}),
      ...(this.#deps.marks ? { marks: this.#deps.marks } : {}),
      ...(config.worker.batch ? { batch: config.worker.batch } : {}),
      report: this.#deps.report,
    })
  }

  protected async release(): Promise<void> {
    await Promise.all([...this.#workers.values()].map((w) => w.close()))
  }
}
