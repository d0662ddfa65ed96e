import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import { assertEnvelope } from '../envelope/validate.ts'
import { describeError } from '../errors/mod.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { deadLetterAndTerm, DEFAULT_RETRY_POLICY, retrySoon } from '../jetstream/settle.ts'
import { DEFAULT_MAX_MSG_SIZE, ensurePipelineConsumer, EVENTS_STREAM } from '../jetstream/topology.ts'
import { byteBoundedPull, startTrackedConsumer, type ConsumerState, type KeepAlive, type TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import type { CompiledPipeline } from '../pipeline/compile.ts'
import { decodeEmittedBy, decodeIngestOrigin, decodeOriginalSubject, LIVE_SUBJECTS, RECEIVED_SUBJECTS, subjectsOverlap } from '../wire/mod.ts'
import type { Acking, ConsumerFailed, Report } from '../jetstream/report.ts'
import { SINK_STAGE } from '../pipeline/outcome-sink.ts'
import { eventRow, type EventRow } from './rows.ts'
import type { BatchWriter } from './writer.ts'

/**
 * The recorder's name where a pipeline's would be (its consumer, its dead letters, its redrive
 * subject). The leading underscore keeps it apart from every pipeline: their names cannot start so.
 */
export const RECORDER = '_recorder'

export interface RecorderOptions {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly writer: BatchWriter<EventRow>
  /** the pipelines loaded now, for the `pipelines` column */
  readonly pipelines: () => readonly CompiledPipeline[]
  readonly maxInFlight?: number
  /** event bytes held in memory while unacknowledged (default 64 MiB): the recorder stops pulling past it */
  readonly maxHeldBytes?: number
  /** the largest event the stream takes (default 1 MiB): no pull may be smaller */
  readonly maxMsgSize?: number
  /** redelivery deadline of an unacknowledged event (default 30 s) */
  readonly ackWaitMs?: number
  /** events ClickHouse refused (dead-lettered), the moment before each ack, and the loop's death */
  readonly report?: Report<RecorderStatus>
}

/** What the event recorder reports. */
export type RecorderStatus = { readonly type: 'recorder-dead-lettered'; readonly seq: number; readonly error: string } | Acking | ConsumerFailed

export interface Recorder {
  /** its consumer's state: failed (and stays so) when the consumer stopped on its own */
  readonly state: ConsumerState
  readonly failure: string | undefined
  stats(): { readonly recorded: number; readonly deadLettered: number; readonly inFlight: number; readonly heldBytes: number }
  /** Stops pulling and waits for the events in flight; the same promise on every call. */
  close(): Promise<void>
  /** Resolves once stopped or failed; never rejects. */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * What the recorder holds unacknowledged during a ClickHouse outage: this budget plus one pull.
 * max_ack_pending (4096 by default) bounds only the count, which at 1 MiB events is 4 GiB.
 */
export const RECORDER_HELD_BYTES = 64 * 1024 * 1024

/**
 * Records every event in the stream (ingested ones and pipeline outputs) into omni_events through
 * its own durable consumer, so that event types no pipeline maps are observed too. An event is
 * acknowledged after its row is written; one ClickHouse refuses is dead-lettered. Failures are
 * settled by the pipeline worker's rules (src/jetstream/settle.ts) with the default errorPolicy.
 */
export async function startRecorder(opts: RecorderOptions): Promise<Recorder> {
  // the same durable consumer a pipeline gets, so dead letters and redrive work alike
  const name = await ensurePipelineConsumer(opts.jsm, {
    pipeline: RECORDER,
    // received events too (omni.rcv.>): they are stored with the node they came from (origin_node)
    sources: [...LIVE_SUBJECTS, RECEIVED_SUBJECTS],
    ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
    ...(opts.maxInFlight ? { maxAckPending: opts.maxInFlight } : {}),
  })
  const recorder = new RecorderImpl(opts)
  await recorder.start(name)
  return recorder
}

const decoder = new TextDecoder()

class RecorderImpl implements Recorder {
  readonly #opts: RecorderOptions
  #consumer: TrackedConsumer | undefined
  #recorded = 0
  #deadLettered = 0
  #matchCache = { pipelines: [] as readonly CompiledPipeline[], bySubject: new Map<string, string[]>() }

  constructor(opts: RecorderOptions) {
    this.#opts = opts
  }

  async start(name: string): Promise<void> {
    this.#consumer = await startTrackedConsumer({
      js: this.#opts.js,
      stream: EVENTS_STREAM,
      consumer: name,
      // by bytes, not count: see RECORDER_HELD_BYTES
      ...byteBoundedPull(this.#opts.maxHeldBytes ?? RECORDER_HELD_BYTES, this.#opts.maxMsgSize ?? DEFAULT_MAX_MSG_SIZE),
      handle: (m, keepAlive) => this.#settle(m, keepAlive),
      ...(this.#opts.report ? { report: this.#opts.report } : {}),
    })
  }

  get state(): ConsumerState {
    return this.#consumer?.state ?? 'running'
  }

  get failure(): string | undefined {
    return this.#consumer?.failure
  }

  stats() {
    return { recorded: this.#recorded, deadLettered: this.#deadLettered, inFlight: this.#consumer?.inFlight() ?? 0, heldBytes: this.#consumer?.heldBytes() ?? 0 }
  }

  async #settle(m: JsMsg, keepAlive: KeepAlive): Promise<void> {
    let row: EventRow
    try {
      const event = assertEnvelope(JSON.parse(decoder.decode(m.data)))
      // a redriven event is recorded under the subject it first had
      const subject = decodeOriginalSubject(m.headers, m.subject)
      row = eventRow(event, { subject, seq: m.info.streamSequence, emittedBy: decodeEmittedBy(m.headers), pipelines: this.#pipelinesFor(subject), origin: decodeIngestOrigin(m.headers) })
    } catch (err) {
      return this.#deadLetter(m, 'decode', describeError(err))
    }
    const written = await keepAlive(m, this.#opts.writer.write([row]))
    if (written.type === 'aborted') return retrySoon(m, DEFAULT_RETRY_POLICY)
    if (written.type === 'rejected') return this.#deadLetter(m, SINK_STAGE, written.error)
    this.#opts.report?.({ type: 'acking', consumer: RECORDER, seq: m.info.streamSequence, attempt: m.info.deliveryCount })
    m.ack()
    this.#recorded++
  }

  /** Both of the recorder's failures are permanent: the same bytes decode, and are refused, the same way again. */
  async #deadLetter(m: JsMsg, stage: string, error: string): Promise<void> {
    if (!(await deadLetterAndTerm(m, { publisher: this.#opts.publisher, policy: DEFAULT_RETRY_POLICY, pipeline: RECORDER, stage, error }))) return
    this.#deadLettered++
    this.#opts.report?.({ type: 'recorder-dead-lettered', seq: m.info.streamSequence, error })
  }

  #pipelinesFor(subject: string): string[] {
    const now = this.#opts.pipelines()
    // subjects come from the catalog, so the cache stays small; the cap guards against odd producers
    if (now !== this.#matchCache.pipelines || this.#matchCache.bySubject.size > 10_000) this.#matchCache = { pipelines: now, bySubject: new Map() }
    let names = this.#matchCache.bySubject.get(subject)
    if (!names) {
      names = now.filter((p) => p.sources.some((s) => subjectsOverlap(s, subject))).map((p) => p.name)
      this.#matchCache.bySubject.set(subject, names)
    }
    return names
  }

  close(): Promise<void> {
    // idempotent: the tracked consumer hands back the same promise every time
    return this.#consumer?.close() ?? Promise.resolve()
  }

  closed(): Promise<void> {
    return this.#consumer?.closed() ?? Promise.resolve()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
