import type { Counter, Histogram } from 'prom-client'
import { pipelineMetrics } from './metrics.ts'

/**
 * What the metrics need of an event a pipeline worker settled; the worker's SettledEvent
 * satisfies it, so this lower layer does not import the pipeline.
 */
export type SettledLike =
  | {
      readonly type: 'acked'
      readonly pipeline: string
      readonly outcome: {
        readonly type: string
        readonly outcomes: readonly ({ readonly stage: string; readonly type: 'ran'; readonly ms: number } | { readonly stage: string; readonly type: 'skipped' | 'dropped' | 'failed' })[]
      }
    }
  | { readonly type: 'retry' | 'dead-lettered'; readonly pipeline: string; readonly stage: string }

type CounterName = 'events' | 'stages' | 'stageErrors' | 'deadLetters'

// Label children are looked up once per label set: prom-client's labels() hashes its arguments
// on every call, which would be paid for every stage of every event.
const counters = new Map<string, ReturnType<Counter['labels']>>()
const histograms = new Map<string, ReturnType<Histogram['labels']>>()

function counter(name: CounterName, ...labels: string[]): ReturnType<Counter['labels']> {
  const key = `${name}\u0000${labels.join('\u0000')}`
  let child = counters.get(key)
  if (!child) counters.set(key, (child = pipelineMetrics[name].labels(...labels)))
  return child
}

function stageSeconds(pipeline: string, stage: string): ReturnType<Histogram['labels']> {
  const key = `${pipeline}\u0000${stage}`
  let child = histograms.get(key)
  if (!child) histograms.set(key, (child = pipelineMetrics.stageSeconds.labels(pipeline, stage)))
  return child
}

/** Counts a settled event into the pipeline metrics served at /metrics. */
export function recordSettled(e: SettledLike): void {
  if (e.type === 'acked') {
    counter('events', e.pipeline, e.outcome.type).inc()
    for (const s of e.outcome.outcomes) {
      counter('stages', e.pipeline, s.stage, s.type).inc()
      if (s.type === 'ran') stageSeconds(e.pipeline, s.stage).observe(s.ms / 1000)
    }
    return
  }
  counter('events', e.pipeline, e.type).inc()
  counter('stageErrors', e.pipeline, e.stage).inc()
  if (e.type === 'dead-lettered') counter('deadLetters', e.pipeline).inc()
}
