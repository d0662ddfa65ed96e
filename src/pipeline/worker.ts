import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import type { DedupStore } from '../cartridges/types.ts'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { Envelope } from '../envelope/schema.ts'
import { assertEnvelope } from '../envelope/validate.ts'
import { isOmniError } from '../errors/mod.ts'
import { deadLetter } from '../jetstream/dlq.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { consumerName, EVENTS_STREAM } from '../jetstream/topology.ts'
import type { CompiledPipeline } from './compile.ts'
import { executePipeline, type EventOutcome } from './executor.ts'

/** starting → running → draining → stopped, or failed when the consume loop dies. */
export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed'

export interface WorkerStats {
  readonly acked: number
  readonly dropped: number
  readonly retried: number
  readonly deadLettered: number
  readonly inFlight: number
}

/** What the worker reports about each event it settles (for logs, tail and tests). */
export type SettledEvent =
  | { readonly type: 'acked'; readonly pipeline: string; readonly seq: number; readonly outcome: Extract<EventOutcome, { type: 'done' | 'dropped' }> }
  | { readonly type: 'retry'; readonly pipeline: string; readonly seq: number; readonly attempt: number; readonly delayMs: number; readonly stage: string; readonly error: string }
  | { readonly type: 'dead-lettered'; readonly pipeline: string; readonly seq: number; readonly attempt: number; readonly stage: string; readonly error: string }

export interface WorkerOptions {
  readonly js: JetStreamClient
  readonly publisher: AckPublisher
  readonly pipeline: CompiledPipeline
  readonly catalog: () => EventCatalog
  readonly dedup?: DedupStore
  /** messages pulled per request (default 256) */
  readonly batch?: number
  /** events being processed at once; the pull pauses at this bound (default 1024) */
  readonly maxInFlight?: number
  readonly now?: () => number
  readonly onSettled?: (event: SettledEvent) => void
  /** called once if the consume loop dies (the connection closed for good) */
  readonly onFailed?: (reason: string) => void
}

/** A pipeline's consumer loop in this process; several processes may share the consumer. */
export interface PipelineWorker {
  readonly name: string
  readonly state: WorkerState
  stats(): WorkerStats
  /** Swaps in a new version of the pipeline; events already in flight finish on the old one. */
  replace(pipeline: CompiledPipeline): void
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Starts consuming the pipeline's durable consumer (which must already exist). */
export async function startPipelineWorker(opts: WorkerOptions): Promise<PipelineWorker> {
  const worker = new PipelineWorkerImpl(opts)
  await worker.start()
  return worker
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

class PipelineWorkerImpl implements PipelineWorker {
  readonly name: string
  #state: WorkerState = 'starting'
  #pipeline: CompiledPipeline
  #messages: ConsumerMessages | undefined
  #loop: Promise<void> = Promise.resolve()
  #inFlight = 0
  #waiters: (() => void)[] = []
  #closing: Promise<void> | undefined
  readonly #done = Promise.withResolvers<void>()
  #stats = { acked: 0, dropped: 0, retried: 0, deadLettered: 0 }
  readonly #opts: WorkerOptions
  readonly #maxInFlight: number

  constructor(opts: WorkerOptions) {
    this.#opts = opts
    this.#pipeline = opts.pipeline
    this.name = opts.pipeline.name
    this.#maxInFlight = opts.maxInFlight ?? 1024
  }

  get state(): WorkerState {
    return this.#state
  }

  stats(): WorkerStats {
    return { ...this.#stats, inFlight: this.#inFlight }
  }

  replace(pipeline: CompiledPipeline): void {
    this.#pipeline = pipeline
  }

  /** Why the worker failed, when it did. */
  failure: string | undefined

  #markFailed(reason: string): void {
    this.#state = 'failed'
    this.failure = reason
    this.#opts.onFailed?.(reason)
    this.#done.resolve()
  }

  async start(): Promise<void> {
    const consumer = await this.#opts.js.consumers.get(EVENTS_STREAM, consumerName(this.name))
    this.#messages = await consumer.consume({ max_messages: this.#opts.batch ?? 256 })
    this.#state = 'running'
    this.#loop = this.#run(this.#messages).then(
      () => {
        // the message loop only ends by itself when the connection is gone for good
        if (this.#state === 'running') this.#markFailed('consume loop ended')
      },
      (err: unknown) => this.#markFailed(describe(err)),
    )
  }

  async #run(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      if (this.#inFlight >= this.#maxInFlight) await new Promise<void>((r) => this.#waiters.push(r))
      this.#inFlight++
      void this.#handle(m).finally(() => {
        this.#inFlight--
        this.#waiters.shift()?.()
        if (this.#inFlight === 0) for (const w of this.#waiters.splice(0)) w()
      })
    }
  }

  /** Settles one message: ack after every output is durable, nak with backoff, or dead-letter. */
  async #handle(m: JsMsg): Promise<void> {
    const pipeline = this.#pipeline
    const attempt = m.info.deliveryCount
    let event: Envelope
    try {
      event = assertEnvelope(JSON.parse(decoder.decode(m.data)))
    } catch (err) {
      return this.#fail(m, pipeline, 'decode', describe(err), true)
    }
    const outcome = await executePipeline(pipeline, event, {
      catalog: this.#opts.catalog(),
      attempt,
      services: { now: this.#opts.now ?? Date.now, ...(this.#opts.dedup ? { dedup: this.#opts.dedup } : {}) },
    })
    if (outcome.type === 'failed') return this.#fail(m, pipeline, outcome.stage, describe(outcome.error), outcome.permanent)
    try {
      await Promise.all(
        outcome.emissions.map((e) =>
          this.#opts.publisher.publish(e.subject, encoder.encode(JSON.stringify(e.event)), { msgID: `${e.event.idempotencykey}@${e.subject}` }),
        ),
      )
      for (const hook of outcome.afterCommit) await hook()
    } catch (err) {
      // The stream refusing an output for good (too large, …) dead-letters the event; an
      // outage (timeouts, a restarting server) must not use up its deliveries, so it retries.
      if (isOmniError(err) && err.permanent) return this.#fail(m, pipeline, 'outputs', describe(err), true)
      return this.#retryLater(m, pipeline, 'outputs', describe(err))
    }
    m.ack()
    if (outcome.type === 'done') this.#stats.acked++
    else this.#stats.dropped++
    this.#opts.onSettled?.({ type: 'acked', pipeline: pipeline.name, seq: m.info.streamSequence, outcome })
  }

  async #fail(m: JsMsg, pipeline: CompiledPipeline, stage: string, error: string, permanent: boolean): Promise<void> {
    const attempt = m.info.deliveryCount
    const seq = m.info.streamSequence
    if (!permanent && attempt < pipeline.maxDeliveries) return this.#retryLater(m, pipeline, stage, error)
    try {
      await deadLetter(this.#opts.publisher, m, { pipeline: pipeline.name, stage, error, attempts: attempt })
    } catch {
      // the dead-letter stream did not take it: leave the event to be redelivered, never drop it
      m.nak(pipeline.backoffMs[0] ?? 1000)
      return
    }
    m.term(`dead-lettered at stage ${stage}`)
    this.#stats.deadLettered++
    this.#opts.onSettled?.({ type: 'dead-lettered', pipeline: pipeline.name, seq, attempt, stage, error })
  }

  #retryLater(m: JsMsg, pipeline: CompiledPipeline, stage: string, error: string): void {
    const attempt = m.info.deliveryCount
    const delayMs = pipeline.backoffMs[Math.min(attempt - 1, pipeline.backoffMs.length - 1)] ?? 1000
    m.nak(delayMs)
    this.#stats.retried++
    this.#opts.onSettled?.({ type: 'retry', pipeline: pipeline.name, seq: m.info.streamSequence, attempt, delayMs, stage, error })
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#state === 'running' || this.#state === 'starting') this.#state = 'draining'
      // stop pulling; messages buffered but not started are never acked, so they are redelivered
      await this.#messages?.close().catch(() => undefined)
      await this.#loop
      while (this.#inFlight > 0) await new Promise<void>((r) => this.#waiters.push(r))
      if (this.#state !== 'failed') this.#state = 'stopped'
      this.#done.resolve()
    })()
    return this.#closing
  }

  closed(): Promise<void> {
    return this.#done.promise
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

function describe(err: unknown): string {
  if (isOmniError(err)) return err.describe().replace(/\n\s*/g, '; ')
  return err instanceof Error ? err.message : String(err)
}
