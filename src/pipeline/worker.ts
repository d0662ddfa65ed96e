import type { JetStreamClient, JsMsg } from '@nats-io/jetstream'
import type { DedupStore } from '../jetstream/dedup-store.ts'
import type { SettledMark, SettledMarks } from '../jetstream/settled-marks.ts'
import type { StageServices } from './stage.ts'
import type { Envelope } from '../envelope/schema.ts'
import { assertEnvelope } from '../envelope/validate.ts'
import { describeError, isOmniError } from '../errors/mod.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { deadLetterAndTerm, mayRetry, retryLater, retrySoon } from '../jetstream/settle.ts'
import type { Acking, ConsumerFailed, Report } from '../jetstream/report.ts'
import { consumerName, EVENTS_STREAM } from '../jetstream/topology.ts'
import { startTrackedConsumer, type ConsumerState, type KeepAlive, type TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import type { CompiledPipeline } from './compile.ts'
import { executePipeline, type EventOutcome, type FanoutCatalog, type StageOutcome } from './executor.ts'
import { SINK_STAGE, type OutcomeSink, type RecordResult } from './outcome-sink.ts'
import { ADDITIVE_STAGE_HEADER, additiveMsgId, decodeEmittedBy, decodeIngestOrigin, decodeKeyOrigin, decodeOriginalSubject, encodeEmittedBy, outputMsgId, outputWithOrigin } from '../wire/mod.ts'
import { catalogRefusal, originRefusal, reservedRefusal } from './admission.ts'
import { OutageDeliveries } from './outage-deliveries.ts'
import { DEFAULT_MAX_MSG_SIZE } from '../jetstream/topology.ts'

/** starting → running → draining → stopped, or failed when the consume loop dies. */
export type WorkerState = 'starting' | ConsumerState

export interface WorkerStats {
  readonly acked: number
  readonly dropped: number
  readonly retried: number
  readonly deadLettered: number
  readonly inFlight: number
}

/** The emitted-by header of each pipeline, made once: every output of every event carries it. */
const emittedByHeaders = new Map<string, Record<string, string>>()
function emittedBy(pipeline: string): Record<string, string> {
  let h = emittedByHeaders.get(pipeline)
  if (!h) emittedByHeaders.set(pipeline, (h = Object.freeze(encodeEmittedBy(pipeline)) as Record<string, string>))
  return h
}

/** The dead letters' stage for an event the catalog refuses before any stage runs. */
export const CATALOG_STAGE = 'catalog'
/** The dead letters' stage for an event whose `origin` was not set by this node's mesh receiver. */
export const ORIGIN_STAGE = 'origin'

/** Room left under the stream's largest message for headers: what an additive emission may hold. */
const MAX_ADDITIVE_EMISSION_BYTES = DEFAULT_MAX_MSG_SIZE - 8 * 1024

/** What the worker reports about each event it settles (for logs, tail and tests). */
export type SettledEvent =
  | { readonly type: 'acked'; readonly pipeline: string; readonly seq: number; readonly outcome: Extract<EventOutcome, { type: 'done' | 'dropped' }> }
  | { readonly type: 'retry'; readonly pipeline: string; readonly seq: number; readonly attempt: number; readonly delayMs: number; readonly stage: string; readonly error: string }
  | { readonly type: 'dead-lettered'; readonly pipeline: string; readonly seq: number; readonly attempt: number; readonly stage: string; readonly error: string }

export interface WorkerOptions {
  readonly js: JetStreamClient
  readonly publisher: AckPublisher
  readonly pipeline: CompiledPipeline
  readonly catalog: () => FanoutCatalog
  readonly dedup?: DedupStore
  /** messages pulled per request (default 256) */
  readonly batch?: number
  readonly now?: () => number
  /** every settled event, failed after-commit hooks, refused outcomes, the moment before each ack, and the loop's death */
  readonly report?: Report<WorkerStatus>
  /**
   * Where stage outcomes go (ClickHouse). When set, an event is acknowledged only after its
   * outcomes are written; while the sink waits for its store, the events wait unacked.
   */
  readonly outcomes?: OutcomeSink
  /**
   * Where a delivery marks that its outputs (or its dead letter) are stored, when its outcome
   * rows are slow to be written; a redelivery that finds the mark publishes nothing again.
   */
  readonly marks?: SettledMarks
}

/**
 * How long the outcome rows may take before the worker marks the event's outputs as published.
 * Most writes take milliseconds and need no mark; one that waits longer may outlast the stream's
 * duplicate window, so the mark is written before that can matter (see #awaitRows).
 */
export const MARK_AFTER_MS = 1000

/**
 * One timer for every event waiting on its rows, not one each (measured: a timer per event
 * doubles the worker's per-event promise overhead): it fires between MARK_AFTER_MS and twice that
 * after an event starts waiting.
 */
let markDeadline: { readonly at: number; readonly fired: Promise<undefined> } | undefined
function nextMarkDeadline(): Promise<undefined> {
  const now = Date.now()
  if (!markDeadline || markDeadline.at < now + MARK_AFTER_MS) {
    const fired = new Promise<undefined>((r) => setTimeout(() => r(undefined), 2 * MARK_AFTER_MS).unref())
    markDeadline = { at: now + 2 * MARK_AFTER_MS, fired }
  }
  return markDeadline.fired
}

/** The longest wait before an event whose outputs failed to publish is delivered again (see duplicate-window.ts). */
export const OUTPUTS_RETRY_MAX_MS = 30_000

/** What a worker reports. */
export type WorkerStatus =
  | SettledEvent
  /** an after-commit hook (a dedup marker) failed; the event was acknowledged anyway */
  | { readonly type: 'hook-failed'; readonly pipeline: string; readonly error: string }
  /** the sink refused the outcomes of an event that is dead-lettered anyway */
  | { readonly type: 'outcomes-rejected'; readonly pipeline: string; readonly error: string }
  /** the published-outputs mark could not be written; a redelivery after the duplicate window could publish again */
  | { readonly type: 'mark-failed'; readonly pipeline: string; readonly seq: number; readonly error: string }
  | Acking
  | ConsumerFailed


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

const decoder = new TextDecoder()

class PipelineWorkerImpl implements PipelineWorker {
  readonly name: string
  #pipeline: CompiledPipeline
  #consumer: TrackedConsumer | undefined
  #stats = { acked: 0, dropped: 0, retried: 0, deadLettered: 0 }
  readonly #opts: WorkerOptions
  readonly #services: StageServices
  readonly #outages = new OutageDeliveries()

  constructor(opts: WorkerOptions) {
    this.#opts = opts
    this.#services = { now: opts.now ?? Date.now, ...(opts.dedup ? { dedup: opts.dedup } : {}) }
    this.#pipeline = opts.pipeline
    this.name = opts.pipeline.name
  }

  get state(): WorkerState {
    return this.#consumer?.state ?? 'starting'
  }

  /** Why the worker failed, when it did. */
  get failure(): string | undefined {
    return this.#consumer?.failure
  }

  stats(): WorkerStats {
    return { ...this.#stats, inFlight: this.#consumer?.inFlight() ?? 0 }
  }

  replace(pipeline: CompiledPipeline): void {
    this.#pipeline = pipeline
  }

  async start(): Promise<void> {
    this.#consumer = await startTrackedConsumer({
      js: this.#opts.js,
      stream: EVENTS_STREAM,
      consumer: consumerName(this.name),
      pull: { max_messages: this.#opts.batch ?? 256 },
      handle: (m, keepAlive) => this.#handle(m, keepAlive),
      // a bug in the worker itself: leave the event to be redelivered rather than lose it
      onError: (m, err) => this.#retryLater(m, this.#pipeline, 'worker', describeError(err)),
      ...(this.#opts.report ? { report: this.#opts.report } : {}),
    })
  }

  /** Runs one message through the DAG; synchronous up to the publishes when the stages are. */
  #handle(m: JsMsg, keepAlive: KeepAlive): Promise<void> {
    const pipeline = this.#pipeline
    let event: Envelope
    try {
      event = assertEnvelope(JSON.parse(decoder.decode(m.data)))
    } catch (err) {
      return this.#fail(m, pipeline, 'decode', describeError(err), true)
    }
    // only a redelivery can find a mark: a first delivery skips the look-up. A marked event
    // already passed the catalog and published its outputs: it is settled as marked, even if
    // the catalog changed since (its rows must still be written)
    const marks = this.#opts.marks
    if (marks && this.#opts.outcomes && m.info.deliveryCount > 1) {
      return marks.get(pipeline.name, m.info.streamSequence).then((mark) => (mark ? this.#settleMarked(m, pipeline, event, mark as SettledMark<StageOutcome>, keepAlive) : this.#run(m, pipeline, event, keepAlive)))
    }
    return this.#run(m, pipeline, event, keepAlive)
  }

  #run(m: JsMsg, pipeline: CompiledPipeline, event: Envelope, keepAlive: KeepAlive): Promise<void> {
    // Only a pipeline's own outputs skip the catalog: whatever else is on the stream may come
    // from a producer on NATS that never went through the ingest checks.
    if (!decodeEmittedBy(m.headers)) {
      const forged = originRefusal(event, decodeOriginalSubject(m.headers, m.subject))
      if (forged !== undefined) return this.#fail(m, pipeline, ORIGIN_STAGE, forged, true)
      const entry = this.#opts.catalog().get(event.type)
      const refused = catalogRefusal(entry, event) ?? reservedRefusal(entry, event, decodeOriginalSubject(m.headers, m.subject), decodeIngestOrigin(m.headers))
      if (refused !== undefined) return this.#fail(m, pipeline, CATALOG_STAGE, refused, true)
    }
    const catalog = this.#opts.catalog()
    const outcome = executePipeline(pipeline, event, {
      catalog,
      attempt: this.#outages.attempt(m.info.streamSequence, m.info.deliveryCount),
      services: this.#services,
      origin: decodeKeyOrigin(m.headers),
    })
    if (!(outcome instanceof Promise)) return this.#settle(m, pipeline, event, outcome, keepAlive)
    // An event may wait long in its stages (queued behind a sandbox's other calls, which are no
    // longer held against its time limit): without working() the server would deliver it again
    // after ack_wait while this delivery still runs, and both would publish and settle it.
    return keepAlive(m, outcome).then((o) => this.#settle(m, pipeline, event, o, keepAlive))
  }

  /**
   * What additive (alpha/community) stages emitted, under host-derived ids of their own
   * namespace. A failure here never holds up or dead-letters the event: it is recorded as the
   * stage's outcome, and an emission too large for the stream is refused before it is sent.
   */
  async #publishAdditive(pipeline: CompiledPipeline, outcome: Extract<EventOutcome, { type: 'done' | 'dropped' }>, headers: Record<string, string>, origin: string): Promise<void> {
    const additive = outcome.emissions.filter((e) => e.additiveStage !== undefined)
    if (additive.length === 0) return
    await Promise.all(
      additive.map(async (e) => {
        const stage = e.additiveStage as string
        const bytes = Buffer.from(JSON.stringify(e.event))
        try {
          if (bytes.length > MAX_ADDITIVE_EMISSION_BYTES) throw new Error(`${bytes.length} bytes, more than the ${MAX_ADDITIVE_EMISSION_BYTES} an emission may hold`)
          await this.#opts.publisher.publish(e.subject, bytes, { msgID: additiveMsgId(pipeline.name, stage, e.event.tenant, e.event.idempotencykey, e.subject, origin), headers: { ...headers, [ADDITIVE_STAGE_HEADER]: stage } })
        } catch (err) {
          // one outcome per stage: the stage ran, but what it emitted was not stored
          const failed = { stage, type: 'failed' as const, error: `its emission to ${e.subject} was not stored: ${describeError(err)}` }
          const at = outcome.outcomes.findIndex((o) => o.stage === stage)
          if (at >= 0) outcome.outcomes[at] = failed
          else outcome.outcomes.push(failed)
        }
      }),
    )
  }

  /** Ack after every output is durable, nak with backoff, or dead-letter. */
  async #settle(m: JsMsg, pipeline: CompiledPipeline, event: Envelope, outcome: EventOutcome, keepAlive: KeepAlive): Promise<void> {
    if (outcome.type === 'failed') {
      if (outcome.outage) return this.#retryLater(m, pipeline, outcome.stage, describeError(outcome.error), OUTPUTS_RETRY_MAX_MS)
      return this.#fail(m, pipeline, outcome.stage, describeError(outcome.error), outcome.permanent, { event, outcomes: outcome.outcomes, keepAlive })
    }
    try {
      // the recorder reads who emitted an output from this header, not from the message id
      // and the source's ingest origin, so omni_events keeps outputs of different origins apart
      const headers = outputWithOrigin(emittedBy(pipeline.name), m.headers)
      // the source's key namespace (a webhook, a pipeline, a client) is part of each id: a client's
      // event reusing a webhook message's key must not take the id of that message's outputs
      const origin = decodeKeyOrigin(m.headers)
      // the approved outputs first: nothing an additive stage emits may be stored before them
      await Promise.all(
        outcome.emissions
          .filter((e) => e.additiveStage === undefined)
          .map((e) => this.#opts.publisher.publish(e.subject, Buffer.from(JSON.stringify(e.event)), { msgID: outputMsgId(e.event.tenant, e.event.idempotencykey, pipeline.name, e.subject, origin), headers })),
      )
      await this.#publishAdditive(pipeline, outcome, headers, origin)
    } catch (err) {
      // The stream refusing an output for good (too large, …) dead-letters the event; an
      // outage (timeouts, a restarting server) must not use up its deliveries, so it retries.
      if (isOmniError(err) && err.permanent) return this.#fail(m, pipeline, 'outputs', describeError(err), true)
      // some outputs may be stored: the retry must come inside the duplicate window, whatever the backoff
      return this.#retryLater(m, pipeline, 'outputs', describeError(err), OUTPUTS_RETRY_MAX_MS)
    }
    // The order, and why no output is ever stored twice (issue 12, section 2):
    //   outputs PubAck'd → [mark, when the rows are slow] → outcome rows → hooks → ack.
    // The stream drops a repeated output id only inside its duplicate window, so a redelivery
    // may publish again only while that window still covers the first publish. Rows written
    // within MARK_AFTER_MS leave no time for that. Rows that take longer (ClickHouse down,
    // however long) get the mark first, before any long wait or nak; a redelivery at any later
    // time finds it (#handle) and publishes nothing. What is left is a crash in the moment
    // between the last PubAck and the mark, followed by a redelivery later than the window: the
    // window must exceed ack_wait + 2 × MARK_AFTER_MS (duplicate-window.ts), and a dead node be
    // back within it.
    // Outcomes go in before the after-commit hooks: once a dedup marker is set, a redelivery
    // without a mark would record the event as a duplicate over its real outcome.
    const sink = this.#opts.outcomes
    if (sink) {
      const attempt = m.info.deliveryCount
      const rows = sink.record({ pipeline, event, origin: decodeIngestOrigin(m.headers), seq: m.info.streamSequence, attempt, outcomes: outcome.outcomes })
      const mark: SettledMark<StageOutcome> = { type: 'published', attempt, outcomes: outcome.outcomes, ...(outcome.type === 'dropped' ? { dropped: { stage: outcome.stage, reason: outcome.reason } } : {}) }
      const written = await this.#awaitRows(m, pipeline, keepAlive, rows, mark)
      if (written.type === 'aborted') return retrySoon(m, pipeline)
      if (written.type === 'rejected') return this.#fail(m, pipeline, SINK_STAGE, written.error, true)
    }
    // The outputs are durable now: a failing hook (a dedup marker) must not make the event run
    // again, or its outputs would be stored twice once the duplicate window has passed.
    for (const hook of outcome.afterCommit) {
      await hook().catch((err: unknown) => this.#opts.report?.({ type: 'hook-failed', pipeline: pipeline.name, error: describeError(err) }))
    }
    this.#ack(m, pipeline, outcome)
  }

  #ack(m: JsMsg, pipeline: CompiledPipeline, outcome: Extract<EventOutcome, { type: 'done' | 'dropped' }>): void {
    this.#opts.report?.({ type: 'acking', consumer: pipeline.name, seq: m.info.streamSequence, attempt: m.info.deliveryCount })
    m.ack()
    this.#outages.forget(m.info.streamSequence)
    if (outcome.type === 'done') this.#stats.acked++
    else this.#stats.dropped++
    this.#opts.report?.({ type: 'acked', pipeline: pipeline.name, seq: m.info.streamSequence, outcome })
  }

  /**
   * Waits for the outcome rows of a delivery whose outputs (or dead letter) are stored. Rows that
   * are not written within MARK_AFTER_MS (up to twice that), or that the closing sink gave up on, get `mark` first:
   * from then on a redelivery, however late, publishes nothing again (#handle).
   */
  async #awaitRows(m: JsMsg, pipeline: CompiledPipeline, keepAlive: KeepAlive, rows: Promise<RecordResult>, mark: SettledMark<StageOutcome>): Promise<RecordResult> {
    const marks = this.#opts.marks
    if (!marks) return keepAlive(m, rows)
    const quick = await keepAlive(m, Promise.race([rows, nextMarkDeadline()]))
    if (quick && quick.type !== 'aborted') return quick
    await keepAlive(
      m,
      marks.put(pipeline.name, m.info.streamSequence, mark).catch((err: unknown) => this.#opts.report?.({ type: 'mark-failed', pipeline: pipeline.name, seq: m.info.streamSequence, error: describeError(err) })),
    )
    return quick ?? keepAlive(m, rows)
  }

  /**
   * A redelivery of an event whose outputs (or dead letter) an earlier delivery stored: nothing is
   * run or published again; the rows that delivery meant to write are written, then it is settled
   * the same way. (The after-commit hooks of that delivery are not run again: they are lost only
   * if it died between its mark and its hooks.)
   */
  async #settleMarked(m: JsMsg, pipeline: CompiledPipeline, event: Envelope, mark: SettledMark<StageOutcome>, keepAlive: KeepAlive): Promise<void> {
    const sink = this.#opts.outcomes as OutcomeSink
    const seq = m.info.streamSequence
    if (mark.type === 'dead-lettered') {
      const written = await keepAlive(m, sink.record({ pipeline, event, origin: decodeIngestOrigin(m.headers), seq, attempt: mark.attempt, outcomes: mark.outcomes, deadLettered: { stage: mark.stage, error: mark.error } }))
      if (!this.#mayTerminate(pipeline, written)) return retrySoon(m, pipeline)
      m.term(`dead-lettered at stage ${mark.stage}`)
      this.#outages.forget(seq)
      this.#stats.deadLettered++
      this.#opts.report?.({ type: 'dead-lettered', pipeline: pipeline.name, seq, attempt: mark.attempt, stage: mark.stage, error: mark.error })
      return
    }
    const written = await keepAlive(m, sink.record({ pipeline, event, origin: decodeIngestOrigin(m.headers), seq, attempt: mark.attempt, outcomes: mark.outcomes }))
    if (written.type === 'aborted') return retrySoon(m, pipeline)
    if (written.type === 'rejected') return this.#fail(m, pipeline, SINK_STAGE, written.error, true)
    const outcomes = [...mark.outcomes]
    this.#ack(
      m,
      pipeline,
      mark.dropped
        ? { type: 'dropped', stage: mark.dropped.stage, reason: mark.dropped.reason, emissions: [], afterCommit: [], outcomes }
        : { type: 'done', event, labels: {}, emissions: [], afterCommit: [], outcomes },
    )
  }

  async #fail(m: JsMsg, pipeline: CompiledPipeline, stage: string, error: string, permanent: boolean, ran?: { event: Envelope; outcomes: readonly StageOutcome[]; keepAlive: KeepAlive }): Promise<void> {
    const attempt = this.#outages.attempt(m.info.streamSequence, m.info.deliveryCount)
    if (mayRetry(pipeline, attempt, permanent)) return this.#retryFailed(m, pipeline, stage, error, attempt)
    const sink = this.#opts.outcomes
    // the event is safe in the dead letters by then; its outcomes are wanted, not required
    // the same order as outputs (#settle): dead letter PubAck'd → [mark, when the rows are slow]
    // → rows → term, so a redelivery after the DLQ's duplicate window makes no second letter
    const recordOutcomes = sink && ran
      ? async () => {
          const rows = sink.record({ pipeline, event: ran.event, origin: decodeIngestOrigin(m.headers), seq: m.info.streamSequence, attempt, outcomes: ran.outcomes, deadLettered: { stage, error } })
          return this.#mayTerminate(pipeline, await this.#awaitRows(m, pipeline, ran.keepAlive, rows, { type: 'dead-lettered', attempt, stage, error, outcomes: ran.outcomes }))
        }
      : undefined
    const terminated = await deadLetterAndTerm(m, { publisher: this.#opts.publisher, policy: pipeline, pipeline: pipeline.name, stage, error, attempts: attempt, ...(recordOutcomes ? { beforeTerm: recordOutcomes } : {}) })
    if (!terminated) return
    this.#outages.forget(m.info.streamSequence)
    this.#stats.deadLettered++
    this.#opts.report?.({ type: 'dead-lettered', pipeline: pipeline.name, seq: m.info.streamSequence, attempt, stage, error })
  }

  /** A refused record is reported and the letter terminated; one the closing sink dropped waits for a redelivery. */
  #mayTerminate(pipeline: CompiledPipeline, written: RecordResult): boolean {
    if (written.type === 'rejected') this.#opts.report?.({ type: 'outcomes-rejected', pipeline: pipeline.name, error: written.error })
    return written.type !== 'aborted'
  }

  /** A failure of the event that may pass: nak with the pipeline's backoff, spending one of its deliveries. */
  #retryFailed(m: JsMsg, pipeline: CompiledPipeline, stage: string, error: string, attempt: number): void {
    const delayMs = retryLater(m, pipeline, attempt)
    this.#stats.retried++
    this.#opts.report?.({ type: 'retry', pipeline: pipeline.name, seq: m.info.streamSequence, attempt, delayMs, stage, error })
  }

  /**
   * An outage or a bug, no fault of the event: nak with the pipeline's backoff (at most
   * `maxDelayMs`, by delivery count) without spending a delivery (OutageDeliveries), so it is never dead-lettered
   * for it, however long the outage lasts.
   */
  #retryLater(m: JsMsg, pipeline: CompiledPipeline, stage: string, error: string, maxDelayMs = Infinity): void {
    const seq = m.info.streamSequence
    const attempt = this.#outages.attempt(seq, m.info.deliveryCount)
    // the backoff grows with every delivery, outages included, so a long outage is not hammered
    const delayMs = retryLater(m, maxDelayMs < Infinity ? { maxDeliveries: pipeline.maxDeliveries, backoffMs: pipeline.backoffMs.map((ms) => Math.min(ms, maxDelayMs)) } : pipeline)
    this.#outages.add(seq)
    this.#stats.retried++
    this.#opts.report?.({ type: 'retry', pipeline: pipeline.name, seq, attempt, delayMs, stage, error })
  }

  close(): Promise<void> {
    return this.#consumer?.close() ?? Promise.resolve()
  }

  closed(): Promise<void> {
    return this.#consumer?.closed() ?? Promise.resolve()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
