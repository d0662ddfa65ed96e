import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import { encodeHeaders } from './header-bytes.ts'
import { omniError, type OmniError } from '../errors/mod.ts'
import { NATS_HEADERS } from '../wire/mod.ts'
import type { AckPublisher, PubAck, PublishOptions } from './publisher-types.ts'

export type { AckPublisher, PubAck, PublishOptions } from './publisher-types.ts'

export interface PublisherOptions {
  /** How long to wait for each ack before rejecting with OMNI_ERR_PUBLISH_FAILED; default DEFAULT_PUBLISH_TIMEOUT_MS. */
  timeoutMs?: number
  /** Most publishes awaiting an ack at once; further calls wait for room; default 4096. */
  maxInFlight?: number
}

/** A JetStream publisher that keeps many publishes in flight on one reply subscription. */
export interface Publisher extends AckPublisher {
  /**
   * Publishes and resolves with the stream's ack. Waits first while `maxInFlight` acks are
   * outstanding. A timeout does not prove the message was not stored: retry with the same msgID.
   */
  publish(subject: string, payload: Uint8Array, opts?: PublishOptions): Promise<PubAck>
  /**
   * Resolves at once when a publish could be sent without waiting; otherwise once half of
   * `maxInFlight` is free, so a loop refills in bursts. Lets loops apply backpressure.
   */
  ready(): Promise<void>
  /** Publishes sent and awaiting their ack. */
  readonly pending: number
  /** Stops accepting publishes, waits up to `timeoutMs` for outstanding acks, rejects the rest. */
  close(): Promise<void>
  /** Resolves once closed (by `close()` or because the connection closed); never rejects. */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

interface PendingAck {
  readonly subject: string
  readonly deadline: number
  resolve(ack: PubAck): void
  reject(err: Error): void
}

interface Waiter {
  /** true: wakes with a slot reserved for a publish; false: a `ready()` call, takes nothing */
  readonly takesSlot: boolean
  wake(): void
}

interface JsApiReply {
  stream?: string
  seq?: number
  duplicate?: boolean
  error?: { code?: number; err_code?: number; description?: string }
}

type State = 'open' | 'closing' | 'closed'

const RESOLVED = Promise.resolve()
const PERMANENT_SEND_ERRORS = new Set(['InvalidSubjectError', 'InvalidArgumentError', 'TypeError'])
/**
 * JetStream API error codes that a retry of the same message can never fix: message larger
 * than the stream allows (10054), expected stream/subject/sequence mismatches (10060, 10071,
 * 10164), message TTL not allowed or invalid (10166, 10165).
 */
const PERMANENT_JS_ERRORS = new Set([10054, 10060, 10071, 10164, 10165, 10166])
/** The stream store failed (10077); with these words it is a limit that refused the message, nothing broken. */
const STREAM_FULL = /^maximum (bytes|messages|messages per subject) exceeded/
/** JetStream as a whole has no room left (10023, insufficient resources). */
const JS_INSUFFICIENT_RESOURCES = 10023
/** Room comes back as consumers catch up and old data ages out, or when an operator acts: not within a second. */
export const STREAM_FULL_RETRY_AFTER_S = 30

/** How long a publish waits for its PubAck unless told otherwise. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000

class JetStreamPublisher implements Publisher {
  readonly #nc: NatsConnection
  readonly #timeoutMs: number
  readonly #max: number
  /** a blocked `ready()` wakes only when this few slots are taken, so the caller refills in bursts */
  readonly #lowWater: number
  /** `_INBOX.<nuid>.`: publish n replies to prefix + n */
  readonly #prefix: string
  readonly #sub: Subscription
  readonly #sweeper: NodeJS.Timeout
  /** insertion order is send order, so the oldest deadlines come first */
  readonly #acks = new Map<number, PendingAck>()
  #next = 0
  /** acks outstanding plus slots handed to woken waiters that have not sent yet */
  #slots = 0
  #queue: (Waiter | undefined)[] = []
  #head = 0
  #state: State = 'open'
  #failure: OmniError | undefined
  #closing: Promise<void> | undefined
  #idle: (() => void) | undefined
  readonly #closed = Promise.withResolvers<void>()

  constructor(nc: NatsConnection, timeoutMs: number, maxInFlight: number) {
    this.#nc = nc
    this.#timeoutMs = timeoutMs
    this.#max = maxInFlight
    this.#lowWater = Math.floor(maxInFlight / 2)
    this.#prefix = `${createInbox()}.`
    this.#sub = nc.subscribe(`${this.#prefix}>`, { callback: (err, m) => this.#onReply(err, m) })
    this.#sub.closed.then(
      () => this.#onSubscriptionEnd(),
      () => this.#onSubscriptionEnd(),
    )
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(1000, Math.max(10, timeoutMs / 4)))
    this.#sweeper.unref()
  }

  get pending(): number {
    return this.#acks.size
  }

  publish(subject: string, payload: Uint8Array, opts?: PublishOptions): Promise<PubAck> {
    if (this.#state !== 'open') return Promise.reject(this.#failure ?? closedError(subject))
    if (this.#slots < this.#max && this.#head === this.#queue.length) {
      this.#slots++
      return this.#send(subject, payload, opts)
    }
    return new Promise<void>((wake) => this.#queue.push({ takesSlot: true, wake })).then(() => this.#send(subject, payload, opts))
  }

  ready(): Promise<void> {
    if (this.#state !== 'open' || (this.#slots < this.#max && this.#head === this.#queue.length)) return RESOLVED
    return new Promise<void>((wake) => this.#queue.push({ takesSlot: false, wake }))
  }

  /** Sends with a slot already taken; the slot is released when the ack settles. */
  #send(subject: string, payload: Uint8Array, opts: PublishOptions | undefined): Promise<PubAck> {
    if (this.#failure) {
      this.#release()
      return Promise.reject(this.#failure)
    }
    const id = ++this.#next
    try {
      this.#nc.publish(subject, payload, { reply: this.#prefix + id, headers: opts && buildHeaders(opts) })
    } catch (err) {
      this.#release()
      // a bad subject or an oversized payload fails the same way on every retry
      const permanent = PERMANENT_SEND_ERRORS.has((err as Error).name)
      return Promise.reject(
        omniError('OMNI_ERR_PUBLISH_FAILED', `cannot publish to "${subject}": ${(err as Error).message}`, { cause: err, permanent }),
      )
    }
    const { promise, resolve, reject } = Promise.withResolvers<PubAck>()
    this.#acks.set(id, { subject, deadline: performance.now() + this.#timeoutMs, resolve, reject })
    return promise
  }

  #onReply(err: Error | null, m: Msg): void {
    if (err) {
      this.#fail(omniError('OMNI_ERR_PUBLISH_FAILED', `the ack subscription failed: ${err.message}`, { cause: err }))
      return
    }
    const id = Number(m.subject.slice(this.#prefix.length))
    const entry = this.#acks.get(id)
    if (!entry) return // its timeout already rejected it
    this.#acks.delete(id)
    this.#release()
    settle(entry, m)
  }

  #sweep(): void {
    const now = performance.now()
    for (const [id, entry] of this.#acks) {
      if (entry.deadline > now) break
      this.#acks.delete(id)
      this.#release()
      entry.reject(
        omniError(
          'OMNI_ERR_PUBLISH_FAILED',
          `no JetStream ack for the publish to "${entry.subject}" within ${this.#timeoutMs} ms; ` +
            'it may still have been stored, so retry with the same msgID',
        ),
      )
    }
  }

  /** Frees one slot and hands it to the oldest waiter, so queued publishes keep their order. */
  #release(): void {
    this.#slots--
    while (this.#head < this.#queue.length) {
      const w = this.#queue[this.#head] as Waiter
      if (w.takesSlot ? this.#slots >= this.#max : this.#slots > this.#lowWater) break
      this.#queue[this.#head++] = undefined
      if (w.takesSlot) this.#slots++
      w.wake()
    }
    if (this.#head > 0 && this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    if (this.#idle && this.#slots === 0 && this.#head === this.#queue.length) this.#idle()
  }

  /** Rejects every outstanding ack; publishes still queued reject when their turn comes. */
  #fail(err: OmniError): void {
    this.#failure ??= err
    for (const [id, entry] of this.#acks) {
      this.#acks.delete(id)
      this.#release()
      entry.reject(err)
    }
  }

  #onSubscriptionEnd(): void {
    if (this.#state === 'closed') return
    this.#fail(omniError('OMNI_ERR_PUBLISH_FAILED', 'the NATS connection closed before the ack arrived'))
    this.#finish()
  }

  #finish(): void {
    this.#state = 'closed'
    clearInterval(this.#sweeper)
    if (!this.#sub.isClosed()) this.#sub.unsubscribe()
    this.#closed.resolve()
  }

  close(): Promise<void> {
    this.#closing ??= this.#drainAndClose()
    return this.#closing
  }

  async #drainAndClose(): Promise<void> {
    if (this.#state !== 'open') return this.#closed.promise
    this.#state = 'closing'
    if (this.#slots > 0 || this.#head < this.#queue.length) {
      const idle = new Promise<void>((resolve) => (this.#idle = resolve))
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#timeoutMs)))
      await Promise.race([idle, timeout])
      clearTimeout(timer)
    }
    this.#fail(omniError('OMNI_ERR_PUBLISH_FAILED', 'the publisher closed before the ack arrived'))
    this.#finish()
  }

  closed(): Promise<void> {
    return this.#closed.promise
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

function closedError(subject: string): OmniError {
  return omniError('OMNI_ERR_PUBLISH_FAILED', `cannot publish to "${subject}": the publisher is closed`)
}

function buildHeaders(opts: PublishOptions): MsgHdrs | undefined {
  if (opts.msgID === undefined && opts.expectStream === undefined && opts.headers === undefined) return undefined
  return encodeHeaders(opts.headers, { [NATS_HEADERS.msgId]: opts.msgID, [NATS_HEADERS.expectedStream]: opts.expectStream })
}

/** Turns the JetStream API reply (or a 503 status) into the ack or a clear error. */
function settle(entry: PendingAck, m: Msg): void {
  const data = m.data
  if (data.length === 0) {
    const h = m.headers
    if (h?.code === 503) {
      entry.reject(
        omniError(
          'OMNI_ERR_PUBLISH_FAILED',
          `no JetStream stream captures subject "${entry.subject}" (the server answered 503 no responders): ` +
            'create a stream whose subjects include it, or check the subject',
        ),
      )
    } else {
      entry.reject(omniError('OMNI_ERR_PUBLISH_FAILED', `empty reply to the publish to "${entry.subject}" (status ${h?.code ?? 'none'} ${h?.description ?? ''})`))
    }
    return
  }
  let r: JsApiReply
  try {
    r = JSON.parse(m.string()) as JsApiReply
  } catch (err) {
    entry.reject(omniError('OMNI_ERR_PUBLISH_FAILED', `unreadable ack for the publish to "${entry.subject}": ${m.string().slice(0, 200)}`, { cause: err }))
    return
  }
  if (r.error) {
    const { code, err_code: errCode, description } = r.error
    if ((errCode === 10077 && STREAM_FULL.test(description ?? '')) || errCode === JS_INSUFFICIENT_RESOURCES) {
      // nothing was stored; the same message may be published again once there is room
      entry.reject(
        omniError('OMNI_ERR_STREAM_FULL', `the stream refused the publish to "${entry.subject}": ${description} (err_code ${errCode}); nothing was stored, retry later with the same id`, {
          cause: r.error,
          retryAfterS: STREAM_FULL_RETRY_AFTER_S,
        }),
      )
      return
    }
    entry.reject(
      omniError('OMNI_ERR_PUBLISH_FAILED', `JetStream rejected the publish to "${entry.subject}": ${description} (code ${code}, err_code ${errCode})`, {
        cause: r.error,
        permanent: errCode !== undefined && PERMANENT_JS_ERRORS.has(errCode),
      }),
    )
    return
  }
  if (typeof r.stream !== 'string' || typeof r.seq !== 'number') {
    entry.reject(omniError('OMNI_ERR_PUBLISH_FAILED', `unexpected reply to the publish to "${entry.subject}": ${m.string().slice(0, 200)}`))
    return
  }
  entry.resolve({ stream: r.stream, seq: r.seq, duplicate: r.duplicate === true })
}

/** Creates a publisher with one wildcard reply subscription on `nc`. */
export function createPublisher(nc: NatsConnection, opts: PublisherOptions = {}): Publisher {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS
  const maxInFlight = opts.maxInFlight ?? 4096
  const problems = []
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) problems.push({ where: 'timeoutMs', message: 'must be a positive integer' })
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) problems.push({ where: 'maxInFlight', message: 'must be a positive integer' })
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid publisher options', { problems })
  return new JetStreamPublisher(nc, timeoutMs, maxInFlight)
}
