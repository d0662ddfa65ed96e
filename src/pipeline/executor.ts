import type { Emission, StageContext, StageFn, StageResult, StageServices } from './stage.ts'
import type { Envelope } from '../envelope/schema.ts'
import { isOmniError, isOutage, omniError } from '../errors/mod.ts'
import { evaluateCondition } from './cel.ts'
import type { CompiledPipeline, CompiledStage } from './compile.ts'
import { CLIENT_ORIGIN } from '../wire/mod.ts'
import { catalogProblems, reservedTypeMessage, type AdmissionEntry } from './admission.ts'
import { StageTimer } from './stage-timer.ts'

/** What happened to one stage: for logs, metrics and the outcome sink (ClickHouse). */
export type StageOutcome =
  /** `labels`: what the stage set (trust, class, tags, …), stored with its outcome */
  | { readonly stage: string; readonly type: 'ran'; readonly ms: number; readonly labels?: Readonly<Record<string, unknown>> }
  | { readonly stage: string; readonly type: 'skipped'; readonly reason: string }
  | { readonly stage: string; readonly type: 'dropped'; readonly reason: string }
  | { readonly stage: string; readonly type: 'failed'; readonly error: string }

/** What became of one event, with the outcome of every stage it reached. */
export type EventOutcome =
  | { readonly type: 'done'; readonly event: Envelope; readonly labels: Record<string, unknown>; readonly emissions: Emission[]; readonly afterCommit: (() => Promise<void>)[]; readonly outcomes: StageOutcome[] }
  | { readonly type: 'dropped'; readonly stage: string; readonly reason: string; readonly emissions: Emission[]; readonly afterCommit: (() => Promise<void>)[]; readonly outcomes: StageOutcome[] }
  /** `outage`: the platform's own NATS failed the stage (isOutage), not the event: retried without using up deliveries */
  | { readonly type: 'failed'; readonly stage: string; readonly error: Error; readonly permanent: boolean; readonly outage?: true; readonly outcomes: StageOutcome[] }

/**
 * What the executor needs of the event catalog: the fan-out targets of an event type, for
 * `fanout: catalog` outputs, and its checks, for what producers publish and built-in stages emit. The catalog satisfies it; the pipeline layer never imports it.
 */
export interface FanoutCatalog {
  get(type: string): (AdmissionEntry & { readonly fanout: readonly FanoutTarget[] }) | undefined
}

/** One fan-out target: a subject and the transforms that shape the event for it. */
export interface FanoutTarget {
  readonly subject: string
  readonly transforms: readonly StageFn[]
}

export interface ExecuteOptions {
  readonly catalog: FanoutCatalog
  readonly services: StageServices
  readonly attempt: number
  /** the namespace of the event's keys (StageContext.origin); `client` when not given */
  readonly origin?: string
}

/** Output transforms are synchronous rewrites; they get a signal that never fires. */
const NEVER_ABORTED = new AbortController().signal

type StageRun = { stage: CompiledStage; result?: StageResult; error?: Error; skipped?: string; ms: number }

/** The event as it moves through the levels, and what the stages collected on the way. */
interface RunState {
  event: Envelope
  labels: Record<string, unknown>
  readonly emissions: Emission[]
  readonly afterCommit: (() => Promise<void>)[]
  readonly outcomes: StageOutcome[]
}

/**
 * Runs the pipeline's DAG over one event inside the worker: level by level, a level's stages
 * concurrently, their results merged in declaration order. Then computes the outputs. Nothing
 * is published here; the worker publishes the emissions and only then acknowledges.
 *
 * Most stages are synchronous; while they are, this stays synchronous too (no promise, timer or
 * abort controller per stage), which lets a whole batch of events reach its publishes in one
 * turn of the event loop. The first stage that returns a promise switches to the async path.
 */
export function executePipeline(pipeline: CompiledPipeline, input: Envelope, opts: ExecuteOptions): EventOutcome | Promise<EventOutcome> {
  const state: RunState = { event: input, labels: {}, emissions: [], afterCommit: [], outcomes: [] }
  return runLevels(pipeline, state, 0, opts)
}

function runLevels(pipeline: CompiledPipeline, state: RunState, from: number, opts: ExecuteOptions): EventOutcome | Promise<EventOutcome> {
  for (let i = from; i < pipeline.levels.length; i++) {
    const level = pipeline.levels[i] as readonly CompiledStage[]
    const runs = level.map((stage) => startStage(pipeline, stage, state, opts))
    if (runs.some(isPromise)) {
      return Promise.all(runs).then((settled) => mergeLevel(state, settled, opts.catalog) ?? runLevels(pipeline, state, i + 1, opts))
    }
    const ended = mergeLevel(state, runs as StageRun[], opts.catalog)
    if (ended) return ended
  }
  return finish(pipeline, state, opts)
}

/** Folds a level's results into the state; returns an outcome when the event stops here. */
function mergeLevel(state: RunState, runs: readonly StageRun[], catalog: FanoutCatalog): EventOutcome | undefined {
  for (const run of runs) {
    const id = run.stage.id
    if (run.result?.emit) {
      // built-in or plugin, approved or additive: what a stage emits is held to the catalog as
      // an ingested event is (its type declared, its data valid, its visibility no wider)
      const refused = undeclaredEmission(run.result.emit, catalog)
      if (refused) run.error = omniError('OMNI_ERR_EVENT_INVALID', `stage ${id} emitted ${refused}`, { permanent: true })
    }
    if (run.skipped !== undefined) {
      state.outcomes.push({ stage: id, type: 'skipped', reason: run.skipped })
      continue
    }
    if (run.error) {
      state.outcomes.push({ stage: id, type: 'failed', error: run.error.message })
      // an additive (alpha/community) stage's failure is recorded and never blocks the event
      if (run.stage.additive) continue
      // an outage is no fault of the event, whatever the stage's policy: `dead-letter` waits it
      // out, and so does `skip` (a guard.dedup skipped for an outage would let a duplicate through)
      if (isOutage(run.error)) return { type: 'failed', stage: id, error: run.error, permanent: false, outage: true, outcomes: state.outcomes }
      if (run.stage.onError === 'skip') continue
      const permanent = run.stage.onError === 'dead-letter' || (isOmniError(run.error) && run.error.permanent)
      return { type: 'failed', stage: id, error: run.error, permanent, outcomes: state.outcomes }
    }
    const result = run.result as StageResult
    // only subject and event are taken from a stage: the host says who emitted what
    if (result.emit) state.emissions.push(...result.emit.map((e) => (run.stage.additive ? { subject: e.subject, event: e.event, additiveStage: id } : { subject: e.subject, event: e.event })))
    if (run.stage.additive) {
      // additive stages may add messages of their own but never change the approved path:
      // their data, labels, drops and hooks are not applied
      state.outcomes.push({ stage: id, type: 'ran', ms: run.ms })
      continue
    }
    if (result.afterCommit) state.afterCommit.push(result.afterCommit)
    if (result.type === 'drop') {
      state.outcomes.push({ stage: id, type: 'dropped', reason: result.reason })
      return { type: 'dropped', stage: id, reason: result.reason, emissions: state.emissions, afterCommit: state.afterCommit, outcomes: state.outcomes }
    }
    state.outcomes.push(result.labels ? { stage: id, type: 'ran', ms: run.ms, labels: result.labels } : { stage: id, type: 'ran', ms: run.ms })
    const e = state.event
    if (result.data || result.extensions) state.event = { ...e, ...result.extensions, data: result.data ? { ...e.data, ...result.data } : e.data }
    if (result.labels) state.labels = { ...state.labels, ...result.labels }
  }
  return undefined
}

/** Why an emission breaks the catalog (its type is not declared, its data fails the schema, its visibility is wider than the type's); undefined when all pass. */
function undeclaredEmission(emit: readonly Emission[], catalog: FanoutCatalog): string | undefined {
  for (const e of emit) {
    const entry = catalog.get(e.event.type)
    if (!entry) return `an event of type "${e.event.type}" on ${e.subject}, which the catalog does not declare`
    // a stage (a sandboxed plugin above all) must not publish a cartridge to the mesh or write the node's audit trail
    if (entry.reserved !== undefined) return `an event on ${e.subject}: ${reservedTypeMessage(e.event.type, entry.reserved)}; a stage may not emit it`
    const problems = catalogProblems(entry, e.event).map((p) => `${p.where}: ${p.message}`)
    if (problems.length > 0) return `an invalid ${e.event.type} event on ${e.subject}: ${problems.join('; ')}`
  }
  return undefined
}

function finish(pipeline: CompiledPipeline, state: RunState, opts: ExecuteOptions): EventOutcome | Promise<EventOutcome> {
  const done = (outputs: Emission[]): EventOutcome => {
    state.emissions.push(...outputs)
    return { type: 'done', event: state.event, labels: state.labels, emissions: state.emissions, afterCommit: state.afterCommit, outcomes: state.outcomes }
  }
  const failed = (err: unknown): EventOutcome => {
    const error = err instanceof Error ? err : new Error(String(err))
    state.outcomes.push({ stage: 'outputs', type: 'failed', error: error.message })
    return { type: 'failed', stage: 'outputs', error, permanent: false, outcomes: state.outcomes }
  }
  try {
    const outputs = computeOutputs(pipeline, state.event, state.labels, opts)
    return isPromise(outputs) ? outputs.then(done, failed) : done(outputs)
  } catch (err) {
    return failed(err)
  }
}

function startStage(pipeline: CompiledPipeline, stage: CompiledStage, state: RunState, opts: ExecuteOptions): StageRun | Promise<StageRun> {
  const { event, labels } = state
  const refused = stage.admits?.(event)
  if (refused !== undefined) return { stage, skipped: refused, ms: 0 }
  if (stage.when) {
    const cond = evaluateCondition(stage.when, { event, data: event.data, labels })
    if (!cond.value) return { stage, skipped: cond.error ? `when: ${cond.error}` : 'when: false', ms: 0 }
  }
  const started = performance.now()
  const ctx = new RunContext(event, labels, pipeline.name, stage, opts)
  const failedRun = (err: unknown): StageRun => ({ stage, error: err instanceof Error ? err : new Error(String(err)), ms: performance.now() - started })
  try {
    const value = stage.run(ctx)
    if (!isPromise(value)) return { stage, result: value, ms: performance.now() - started }
    return withTimeout(value, stage, () => ctx.controller(), ctx.timer()).then((result) => ({ stage, result, ms: performance.now() - started }), failedRun)
  } catch (err) {
    return failedRun(err)
  }
}

/**
 * A stage's context. A class rather than an object literal with getters: one allocation per
 * stage instead of an object and two closures, which the garbage collector feels at tens of
 * thousands of events a second. `signal` and `clock` are made only when a stage asks for them
 * (a plugin stage does; synchronous built-ins never do).
 */
class RunContext implements StageContext {
  readonly event: Envelope
  readonly labels: Record<string, unknown>
  readonly pipeline: string
  readonly stage: string
  readonly origin: string
  readonly attempt: number
  readonly services: StageServices
  #controller: AbortController | undefined
  #timer: StageTimer | undefined
  readonly #timeoutMs: number

  constructor(event: Envelope, labels: Record<string, unknown>, pipeline: string, stage: CompiledStage, opts: ExecuteOptions) {
    this.event = event
    this.labels = labels
    this.pipeline = pipeline
    this.stage = stage.id
    this.origin = opts.origin ?? CLIENT_ORIGIN
    this.attempt = opts.attempt
    this.services = opts.services
    this.#timeoutMs = stage.timeoutMs
  }

  get signal(): AbortSignal {
    return this.controller().signal
  }

  get clock(): StageTimer {
    return this.timer()
  }

  controller(): AbortController {
    return (this.#controller ??= new AbortController())
  }

  timer(): StageTimer {
    return (this.#timer ??= new StageTimer(this.#timeoutMs))
  }
}

/**
 * Fails the stage with OMNI_ERR_STAGE_TIMEOUT once the time that counts reaches its limit. Time
 * the stage paused (`ctx.clock`) does not count: a sandboxed plugin's event queued behind other
 * events' calls or a sandbox restart would otherwise time out for work that is not its own,
 * and, retried into the same queue, be dead-lettered although innocent (ledger scenario 7).
 * What bounds the paused time instead: each sandbox call has its own limit (the plugin's
 * timeoutMs and the watchdog), a sandbox that cannot restart fails its calls, and an event
 * takes part in at most one batch call and one call of its own (sandbox/isolate-failures.ts).
 */
function withTimeout<T>(promise: Promise<T>, stage: CompiledStage, controller: () => AbortController, timer: StageTimer): Promise<T> {
  const timeout = new Promise<never>((_, reject) => {
    timer.start(() => {
      controller().abort()
      reject(omniError('OMNI_ERR_STAGE_TIMEOUT', `stage ${stage.id} (${stage.uses}) took longer than ${stage.timeoutMs} ms`))
    })
  })
  return Promise.race([promise, timeout]).finally(() => timer.stop())
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown })?.then === 'function'
}

/** Applies each output's condition and transforms; `fanout: catalog` expands to the event type's targets. */
function computeOutputs(pipeline: CompiledPipeline, event: Envelope, labels: Record<string, unknown>, opts: ExecuteOptions): Emission[] | Promise<Emission[]> {
  const shaped: (Emission | Promise<Emission>)[] = []
  for (const output of pipeline.outputs) {
    if (output.when && !evaluateCondition(output.when, { event, data: event.data, labels }).value) continue
    const targets = output.subject !== undefined ? [{ subject: output.subject, transforms: output.transforms }] : (opts.catalog.get(event.type)?.fanout ?? [])
    for (const target of targets) {
      try {
        shaped.push(shapeTarget(pipeline, target.subject, target.transforms, event, labels, opts))
      } catch (err) {
        // keep earlier asynchronous targets handled: the failure travels through Promise.all
        shaped.push(Promise.reject(err instanceof Error ? err : new Error(String(err))))
      }
    }
  }
  return shaped.some(isPromise) ? Promise.all(shaped) : (shaped as Emission[])
}

/** Runs a target's transforms one after the other, synchronously while they are. */
function shapeTarget(
  pipeline: CompiledPipeline,
  subject: string,
  transforms: readonly StageFn[],
  event: Envelope,
  labels: Record<string, unknown>,
  opts: ExecuteOptions,
  from = 0,
): Emission | Promise<Emission> {
  let shaped = event
  for (let i = from; i < transforms.length; i++) {
    const ctx: StageContext = { event: shaped, labels, pipeline: pipeline.name, stage: `output:${subject}`, origin: opts.origin ?? CLIENT_ORIGIN, attempt: opts.attempt, signal: NEVER_ABORTED, services: opts.services }
    const result = (transforms[i] as StageFn)(ctx)
    const base = shaped
    const apply = (r: StageResult): Envelope => (r.type === 'continue' && r.data ? { ...base, data: { ...base.data, ...r.data } } : base)
    if (isPromise(result)) return result.then((r) => shapeTarget(pipeline, subject, transforms, apply(r), labels, opts, i + 1))
    shaped = apply(result)
  }
  return { subject, event: ownEvent(shaped) }
}

/**
 * An output is this node's own event, emitted under its own name: a received event's `origin`
 * (the peer it came from, set only by the mesh receiver) stays behind, so the output is exported
 * by its visibility like any other and is never recorded as the peer's.
 */
function ownEvent(event: Envelope): Envelope {
  if (event.origin === undefined) return event
  const { origin: _received, ...own } = event
  return own
}
