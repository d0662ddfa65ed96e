import { Lifecycle } from '../util/lifecycle.ts'
import type { ConsumeOptions, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import { describeError } from '../errors/mod.ts'
import { startWorkingHeartbeat, WORKING_EVERY_MS, type WorkingHeartbeat } from './heartbeat.ts'
import { DEFAULT_RETRY_POLICY, retryLater } from './settle.ts'
import type { ConsumerFailed, Report } from './report.ts'

/** How much one pull asks for: a message count or a byte budget (the client takes one, not both). */
export type PullOptions = { readonly max_messages: number } | { readonly max_bytes: number }

/**
 * A byte-bounded pull for a consumer that holds its messages while a store is down (the
 * recorders): each pull asks for a quarter of the budget, but never less than the largest message
 * plus room for its headers (the server refuses a pull smaller than the next message).
 */
export function byteBoundedPull(maxHeldBytes: number, largestMessage: number): { readonly pull: PullOptions; readonly maxHeldBytes: number } {
  return { pull: { max_bytes: Math.max(largestMessage + 64 * 1024, Math.floor(maxHeldBytes / 4)) }, maxHeldBytes }
}

/** running → draining → stopped, or failed when the consumer stops on its own (and stays failed). */
export type ConsumerState = 'running' | 'draining' | 'stopped' | 'failed'

/**
 * Keeps `m` from redelivery (`working()` every 10 s) until `wait` settles, and hands back its
 * result: for a handler waiting on something slow such as ClickHouse.
 */
export type KeepAlive = <T>(m: JsMsg, wait: Promise<T>) => Promise<T>

export interface TrackedConsumerOptions {
  readonly js: JetStreamClient
  readonly stream: string
  readonly consumer: string
  readonly pull: PullOptions
  /**
   * Settles one message (ack, nak or term). Messages are handled concurrently; those that arrive
   * in one turn are started together on the next, so their publishes and acks leave in one
   * socket write instead of one write per message.
   */
  readonly handle: (m: JsMsg, keepAlive: KeepAlive) => Promise<void>
  /** settles a message whose handler threw (default: a later delivery after the default backoff) */
  readonly onError?: (m: JsMsg, err: unknown) => void
  /** reports, once, that the consumer stopped without close() (the connection closed for good) */
  readonly report?: Report<ConsumerFailed>
  /**
   * A byte budget for the messages in flight (their payloads). Past it the consumer stops
   * pulling until half of it is settled: max_ack_pending bounds only the count, and messages
   * held while ClickHouse is down could otherwise reach max_ack_pending × the largest message.
   * What is held stays under this budget plus what one pull brings.
   */
  readonly maxHeldBytes?: number
}

/** A running consumer whose handlers are counted, so close() can wait for them. */
export interface TrackedConsumer {
  readonly state: ConsumerState
  /** why the consumer failed, when it did */
  readonly failure: string | undefined
  /** messages handed to the handler and not settled yet */
  inFlight(): number
  /** the payload bytes of those messages */
  heldBytes(): number
  /** Stops pulling and resolves once every handler has settled; the same promise on every call. */
  close(): Promise<void>
  /** Resolves once the consumer is stopped or failed; never rejects. */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * How long one pull request lives on the server (nats.js: 30 s by default, its idle heartbeat half
 * of it). A pull request lives only in the memory of the consumer's leader: on a NATS cluster the
 * requests waiting at a leader that dies are gone, and the client pulls again only after two missed
 * heartbeats (2 × expires / 2). 5 s bounds that stall after a server is lost at about 5 s instead
 * of 30 s, for one more pull request per worker every 5 s when idle.
 */
export const PULL_EXPIRES_MS = 5_000
/**
 * How long a worker waits before it pulls again after its pull found no responder (503). On a
 * cluster that happens to a worker starting beside another that just created the consumer, before
 * the consumer's leader listens; nats.js 3.4 then never pulls again by itself (measured: one of
 * two platform processes started together got no event at all in 5 runs of 6).
 */
const NO_RESPONDERS_RETRY_MS = 250

/**
 * Consumes a durable pull consumer with a callback: the one consume loop of the pipeline worker
 * and the recorders. The callback form hands over messages as they are parsed, without an async
 * iterator's turn per message (measured 1.9x the for-await rate). Messages in flight are bounded
 * by the consumer's max_ack_pending, which the server enforces across every process sharing it.
 */
export async function startTrackedConsumer(opts: TrackedConsumerOptions): Promise<TrackedConsumer> {
  const consumer = await opts.js.consumers.get(opts.stream, opts.consumer)
  // a held message must say it is alive well within ack_wait, or a short ack_wait redelivers it
  // while its first delivery still waits (on ClickHouse)
  const ackWaitMs = ((await consumer.info(true)).config.ack_wait ?? 30_000_000_000) / 1_000_000
  const tracked = new TrackedConsumerImpl(opts, startWorkingHeartbeat(Math.min(WORKING_EVERY_MS, Math.max(100, Math.floor(ackWaitMs / 3)))))
  await tracked.start(async (callback) => {
    const pull: ConsumeOptions = 'max_bytes' in opts.pull ? { max_bytes: opts.pull.max_bytes, expires: PULL_EXPIRES_MS, callback } : { max_messages: opts.pull.max_messages, expires: PULL_EXPIRES_MS, callback }
    return consumer.consume(pull)
  })
  return tracked
}

class TrackedConsumerImpl extends Lifecycle implements TrackedConsumer {
  readonly #opts: TrackedConsumerOptions
  readonly #heartbeat: WorkingHeartbeat
  #state: ConsumerState = 'running'
  #messages: ConsumerMessages | undefined
  #stopped: Promise<void> = Promise.resolve()
  #inFlight = 0
  #heldBytes = 0
  #consume: ((callback: (m: JsMsg) => void) => Promise<ConsumerMessages>) | undefined
  /** set while pulling is stopped for the byte budget; resolves once it is started again */
  #paused: { readonly resumed: Promise<void>; readonly resume: () => void } | undefined
  #resuming: Promise<void> = Promise.resolve()
  #batch: JsMsg[] = []
  #idle: (() => void)[] = []
  failure: string | undefined

  constructor(opts: TrackedConsumerOptions, heartbeat: WorkingHeartbeat) {
    super()
    this.#opts = opts
    this.#heartbeat = heartbeat
  }

  get state(): ConsumerState {
    return this.#state
  }

  inFlight(): number {
    return this.#inFlight
  }

  heldBytes(): number {
    return this.#heldBytes
  }

  async start(consume: (callback: (m: JsMsg) => void) => Promise<ConsumerMessages>): Promise<void> {
    this.#consume = consume
    try {
      await this.#open()
    } catch (err) {
      this.#heartbeat.stop()
      throw err
    }
  }

  /** Starts pulling; the consumer stopping by itself (not by #pause, #retry or close) fails it. */
  async #open(): Promise<void> {
    if (!this.#consume) throw new Error('the consumer was not started')
    const messages = await this.#consume(this.#enqueue)
    this.#messages = messages
    void this.#watch(messages)
    this.#stopped = messages.closed().then(
      // the consumer only stops by itself when the connection is gone for good
      (err) => {
        if (messages === this.#messages) this.#fail(err ? describeError(err) : 'consumer stopped')
      },
      (err: unknown) => {
        if (messages === this.#messages) this.#fail(describeError(err))
      },
    )
  }

  /** Pulls again, on a fresh pull loop, when a pull found no one to answer it (see NO_RESPONDERS_RETRY_MS). */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type !== 'no_responders' || messages !== this.#messages) continue
      // detached first: its end is not a failure of the consumer
      this.#messages = undefined
      messages.stop()
      await new Promise((r) => setTimeout(r, NO_RESPONDERS_RETRY_MS))
      // paused meanwhile: #resume opens it; closing: nothing to open
      if (this.closing || this.#state !== 'running' || this.#paused) return
      this.#resuming = this.#open().then(
        // closing began while it opened: stop the new loop too
        () => (this.closing ? this.#messages?.stop() : undefined),
        (err: unknown) => this.#fail(describeError(err)),
      )
      return
    }
  }

  /** Over the byte budget: stop pulling (what a pull still brings is handled as usual). */
  #pause(): void {
    const messages = this.#messages
    this.#messages = undefined
    const { promise, resolve } = Promise.withResolvers<void>()
    this.#paused = { resumed: promise, resume: resolve }
    messages?.stop()
  }

  /** Back under half the budget: pull again, unless closing meanwhile. */
  #resume(): void {
    const paused = this.#paused
    if (!paused) return
    this.#paused = undefined
    if (this.closing || this.#state !== 'running') return paused.resume()
    this.#resuming = this.#open()
      .then(
        () => (this.closing ? this.#messages?.stop() : undefined),
        (err: unknown) => this.#fail(describeError(err)),
      )
      .finally(paused.resume)
  }

  #fail(reason: string): void {
    if (this.#state !== 'running') return
    this.#state = 'failed'
    this.failure = reason
    this.#opts.report?.({ type: 'consumer-failed', consumer: this.#opts.consumer, reason })
    this.ended()
  }

  readonly #enqueue = (m: JsMsg): void => {
    // while draining, a message is left unacknowledged: the server redelivers it
    if (this.closing) return
    this.#inFlight++
    this.#heldBytes += m.data.length
    const budget = this.#opts.maxHeldBytes
    if (budget !== undefined && this.#heldBytes >= budget && !this.#paused) this.#pause()
    this.#batch.push(m)
    if (this.#batch.length === 1) setImmediate(this.#startBatch)
  }

  readonly #startBatch = (): void => {
    const batch = this.#batch
    this.#batch = []
    for (const m of batch) {
      let settled: Promise<void>
      try {
        settled = this.#opts.handle(m, this.#keepAlive)
      } catch (err) {
        settled = Promise.reject(err)
      }
      settled
        .catch((err: unknown) => this.#settleError(m, err))
        .finally(() => this.#release(m.data.length))
        // a nak on a closed connection: the server redelivers after ack_wait anyway
        .catch(() => undefined)
    }
  }

  #release(bytes: number): void {
    this.#inFlight--
    this.#heldBytes -= bytes
    if (this.#paused && this.#heldBytes <= (this.#opts.maxHeldBytes ?? 0) / 2) this.#resume()
    if (this.#inFlight === 0) for (const f of this.#idle.splice(0)) f()
  }

  #settleError(m: JsMsg, err: unknown): void {
    // a bug in the handler: leave the message to be redelivered rather than lose it
    if (this.#opts.onError) this.#opts.onError(m, err)
    else retryLater(m, DEFAULT_RETRY_POLICY)
  }

  readonly #keepAlive: KeepAlive = (m, wait) => {
    this.#heartbeat.hold(m)
    return wait.finally(() => this.#heartbeat.release(m))
  }

  protected async release(): Promise<void> {
    if (this.#state === 'running') this.#state = 'draining'
    // stop pulling; messages that arrive meanwhile are never acked, so they are redelivered
    await this.#resuming
    await this.#messages?.close().catch(() => undefined)
    await this.#stopped
    while (this.#inFlight > 0) await new Promise<void>((r) => this.#idle.push(r))
    this.#heartbeat.stop()
    if (this.#state !== 'failed') this.#state = 'stopped'
  }
}
