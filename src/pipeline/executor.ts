import type { Emission, StageContext, StageResult, StageServices } from '../cartridges/types.ts'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { Envelope } from '../envelope/schema.ts'
import { isOmniError, omniError } from '../errors/mod.ts'
import { evaluateCondition } from './cel.ts'
import type { CompiledPipeline, CompiledStage } from './compile.ts'

/** What happened to one stage, for logs, tail and (later) analytics. */
export type StageTrace =
  | { readonly stage: string; readonly type: 'ran'; readonly ms: number }
  | { readonly stage: string; readonly type: 'skipped'; readonly reason: string }
  | { readonly stage: string; readonly type: 'dropped'; readonly reason: string }
  | { readonly stage: string; readonly type: 'failed'; readonly error: string }

export type EventOutcome =
  | { readonly type: 'done'; readonly event: Envelope; readonly labels: Record<string, unknown>; readonly emissions: Emission[]; readonly afterCommit: (() => Promise<void>)[]; readonly trace: StageTrace[] }
  | { readonly type: 'dropped'; readonly stage: string; readonly reason: string; readonly emissions: Emission[]; readonly afterCommit: (() => Promise<void>)[]; readonly trace: StageTrace[] }
  | { readonly type: 'failed'; readonly stage: string; readonly error: Error; readonly permanent: boolean; readonly trace: StageTrace[] }

export interface ExecuteOptions {
  readonly catalog: EventCatalog
  readonly services: StageServices
  readonly attempt: number
}

/** Output transforms are synchronous rewrites; they get a signal that never fires. */
const NEVER_ABORTED = new AbortController().signal

type StageRun = { stage: CompiledStage; result?: StageResult; error?: Error; skipped?: string; ms: number }

/**
 * Runs the pipeline's DAG over one event inside the worker: level by level, a level's stages
 * concurrently, their results merged in declaration order. Then computes the outputs. Nothing
 * is published here; the worker publishes the emissions and only then acknowledges.
 */
export async function executePipeline(pipeline: CompiledPipeline, input: Envelope, opts: ExecuteOptions): Promise<EventOutcome> {
  let event: Envelope = input
  let labels: Record<string, unknown> = {}
  const emissions: Emission[] = []
  const afterCommit: (() => Promise<void>)[] = []
  const trace: StageTrace[] = []

  for (const level of pipeline.levels) {
    const runs = await Promise.all(level.map((stage) => runStage(pipeline, stage, event, labels, opts)))
    for (const run of runs) {
      const id = run.stage.id
      if (run.skipped !== undefined) {
        trace.push({ stage: id, type: 'skipped', reason: run.skipped })
        continue
      }
      if (run.error) {
        trace.push({ stage: id, type: 'failed', error: run.error.message })
        if (run.stage.onError === 'skip') continue
        const permanent = run.stage.onError === 'dead-letter' || (isOmniError(run.error) && run.error.permanent)
        return { type: 'failed', stage: id, error: run.error, permanent, trace }
      }
      const result = run.result as StageResult
      if (result.emit) emissions.push(...result.emit)
      if (result.afterCommit) afterCommit.push(result.afterCommit)
      if (result.type === 'drop') {
        trace.push({ stage: id, type: 'dropped', reason: result.reason })
        return { type: 'dropped', stage: id, reason: result.reason, emissions, afterCommit, trace }
      }
      trace.push({ stage: id, type: 'ran', ms: run.ms })
      if (result.data || result.extensions) event = { ...event, ...result.extensions, data: result.data ? { ...event.data, ...result.data } : event.data }
      if (result.labels) labels = { ...labels, ...result.labels }
    }
  }

  try {
    emissions.push(...(await computeOutputs(pipeline, event, labels, opts)))
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err))
    trace.push({ stage: 'outputs', type: 'failed', error: error.message })
    return { type: 'failed', stage: 'outputs', error, permanent: false, trace }
  }
  return { type: 'done', event, labels, emissions, afterCommit, trace }
}

async function runStage(pipeline: CompiledPipeline, stage: CompiledStage, event: Envelope, labels: Record<string, unknown>, opts: ExecuteOptions): Promise<StageRun> {
  if (stage.when) {
    const cond = evaluateCondition(stage.when, { event, data: event.data, labels })
    if (!cond.value) return { stage, skipped: cond.error ? `when: ${cond.error}` : 'when: false', ms: 0 }
  }
  const started = performance.now()
  const controller = new AbortController()
  const ctx: StageContext = { event, labels, pipeline: pipeline.name, stage: stage.id, attempt: opts.attempt, signal: controller.signal, services: opts.services }
  try {
    const value = stage.run(ctx)
    // Synchronous stages (most built-ins) skip the timer and the extra promise entirely.
    const result = isPromise(value) ? await withTimeout(value, stage, controller) : value
    return { stage, result, ms: performance.now() - started }
  } catch (err) {
    return { stage, error: err instanceof Error ? err : new Error(String(err)), ms: performance.now() - started }
  }
}

function withTimeout<T>(promise: Promise<T>, stage: CompiledStage, controller: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(omniError('OMNI_ERR_STAGE_TIMEOUT', `stage ${stage.id} (${stage.uses}) took longer than ${stage.timeoutMs} ms`))
    }, stage.timeoutMs)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown })?.then === 'function'
}

/** Applies each output's condition and transforms; `fanout: catalog` expands to the event type's targets. */
async function computeOutputs(pipeline: CompiledPipeline, event: Envelope, labels: Record<string, unknown>, opts: ExecuteOptions): Promise<Emission[]> {
  const out: Emission[] = []
  for (const output of pipeline.outputs) {
    if (output.when && !evaluateCondition(output.when, { event, data: event.data, labels }).value) continue
    const targets = output.subject !== undefined ? [{ subject: output.subject, transforms: output.transforms }] : (opts.catalog.get(event.type)?.fanout ?? [])
    for (const target of targets) {
      let shaped = event
      for (const transform of target.transforms) {
        const ctx: StageContext = { event: shaped, labels, pipeline: pipeline.name, stage: `output:${target.subject}`, attempt: opts.attempt, signal: NEVER_ABORTED, services: opts.services }
        const result = await transform(ctx)
        if (result.type === 'continue' && result.data) shaped = { ...shaped, data: { ...shaped.data, ...result.data } }
      }
      out.push({ subject: target.subject, event: shaped })
    }
  }
  return out
}
