// The hand-written pipeline: what a user would write instead of adopting Omni, with the same
// client and server, the way an expert would. The denominator of the end-to-end row
// (issue 15): only the public nats.js client, no Omni code anywhere on its path.
//
// The loop: a durable pull consumer delivers batches into a callback (no async iterator turn
// per message); each event is parsed once, transformed three times, stringified once and
// published with a Nats-Msg-Id derived from its id; the input is acked only when the output's
// PubAck says it is stored, so a crash never loses an event and a redelivery is deduplicated by
// the stream. Nothing awaits per message: the consumer's max_ack_pending is the in-flight
// window, since an input stays unacked exactly while its output waits for its PubAck.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream'
import { connect, createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import { createAckCount } from '../lib/ack-count.ts'
import { transform } from './transforms.ts'

/**
 * How outputs wait for their PubAck. `reply-inbox`: a core publish with a reply subject on one
 * wildcard subscription, the acks matched by a counter (what an expert writes after profiling:
 * no request object, timer or promise per message). `js-publish`: the client's own
 * `js.publish()`, one promise per message, none awaited in series (what most users write).
 */
export type PublishStyle = 'reply-inbox' | 'js-publish'

export interface HandPipelineOptions {
  readonly url: string
  readonly stream: string
  /** the durable consumer's name; created (or updated) on start, left in place on close */
  readonly consumer: string
  readonly source: string
  readonly output: string
  readonly style: PublishStyle
  /** messages per pull request */
  readonly batch: number
  /** inputs delivered and not yet acked: the pipeline's whole in-flight window */
  readonly maxAckPending: number
  /** the server redelivers an input not acked within this; a PubAck not back by then is given up */
  readonly ackWaitMs: number
}

export interface HandPipelineStats {
  /** inputs acked: after their output's PubAck, or refused by the trust transform */
  readonly acked: number
  /** inputs the trust transform refused (acked with no output) */
  readonly refused: number
  /** inputs whose output the stream refused (nak'd, so redelivered) */
  readonly failed: number
  /** inputs that were not an event (terminated) */
  readonly poison: number
  /** outputs with no PubAck within ackWaitMs (their inputs are redelivered by the server) */
  readonly lost: number
  /** outputs waiting for their PubAck now */
  readonly inFlight: number
}

export interface HandPipeline {
  stats(): HandPipelineStats
  /** resolves with performance.now() once `n` inputs are acked, or undefined after `timeoutMs` */
  ackedAtLeast(n: number, timeoutMs: number): Promise<number | undefined>
  /** stops pulling, waits (up to 5 s) for the PubAcks in flight, closes the connection */
  close(): Promise<void>
}

const ns = (ms: number) => ms * 1_000_000
const CLOSE_WAIT_MS = 5000

/** Starts the pipeline on a connection of its own. */
export async function startHandPipeline(opts: HandPipelineOptions): Promise<HandPipeline> {
  // noAsyncTraces: the client would otherwise build an Error (a stack trace) per request
  const nc = await connect({ servers: opts.url, name: `hand-pipeline-${opts.style}`, noAsyncTraces: true })
  try {
    const jsm = await jetstreamManager(nc)
    await jsm.consumers.add(opts.stream, {
      durable_name: opts.consumer,
      filter_subject: opts.source,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ns(opts.ackWaitMs),
      max_ack_pending: opts.maxAckPending,
    })
    return await run(nc, opts)
  } catch (err) {
    await nc.close()
    throw err
  }
}

async function run(nc: NatsConnection, opts: HandPipelineOptions): Promise<HandPipeline> {
  const acked = createAckCount()
  let refused = 0
  let failed = 0
  let poison = 0
  const ack = (m: JsMsg) => {
    m.ack()
    acked.add()
  }
  const nak = (m: JsMsg) => {
    failed++
    m.nak()
  }
  const publisher = opts.style === 'reply-inbox' ? replyInboxPublisher(nc, opts.ackWaitMs, ack, nak) : jsPublisher(nc, ack, nak)
  const consumer = await jetstream(nc).consumers.get(opts.stream, opts.consumer)
  const messages: ConsumerMessages = await consumer.consume({
    max_messages: opts.batch,
    callback: (m) => {
      let out
      try {
        out = transform(m.data)
      } catch {
        // the same bytes fail the same way on every delivery
        poison++
        m.term()
        return
      }
      if (out.type === 'refused') {
        refused++
        ack(m)
        return
      }
      publisher.publish(m, opts.output, out.bytes, `hand:${out.id}`)
    },
  })
  return {
    stats: () => ({ acked: acked.value, refused, failed, poison, lost: publisher.lost(), inFlight: publisher.inFlight() }),
    ackedAtLeast: (n, timeoutMs) => acked.atLeast(n, timeoutMs),
    async close() {
      await messages.close()
      // an input whose PubAck is still missing then is redelivered to the next consumer
      const until = performance.now() + Math.min(CLOSE_WAIT_MS, opts.ackWaitMs)
      while (publisher.inFlight() > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
      publisher.close()
      await nc.drain().catch(() => nc.close())
    },
  }
}

/** Publishes an input's output and acks or naks the input when the PubAck comes back. */
interface OutputPublisher {
  publish(input: JsMsg, subject: string, bytes: Uint8Array, msgID: string): void
  inFlight(): number
  lost(): number
  close(): void
}

function jsPublisher(nc: NatsConnection, ack: (m: JsMsg) => void, nak: (m: JsMsg) => void): OutputPublisher {
  const js = jetstream(nc)
  let inFlight = 0
  return {
    publish(input, subject, bytes, msgID) {
      inFlight++
      // the client rejects on an error reply and on its own timeout: either way, nak
      js.publish(subject, bytes, { msgID }).then(
        () => {
          inFlight--
          ack(input)
        },
        () => {
          inFlight--
          nak(input)
        },
      )
    },
    inFlight: () => inFlight,
    lost: () => 0,
    close() {},
  }
}

function replyInboxPublisher(nc: NatsConnection, ackWaitMs: number, ack: (m: JsMsg) => void, nak: (m: JsMsg) => void): OutputPublisher {
  const prefix = `${createInbox()}.`
  // insertion order is send order, so the oldest come first
  const waiting = new Map<number, JsMsg>()
  let next = 0
  let lost = 0
  const sub: Subscription = nc.subscribe(`${prefix}>`, {
    callback: (err, r: Msg) => {
      if (err) return
      const id = Number(r.subject.slice(prefix.length))
      const input = waiting.get(id)
      if (input === undefined) return
      waiting.delete(id)
      // a PubAck is {"stream":…,"seq":…}; a refusal carries "error", no responders an empty 503
      if (isPubAck(r)) ack(input)
      else nak(input)
    },
  })
  // A reply that never comes (a server restart) would hold its entry for ever; the server
  // redelivers the input after ack_wait anyway, so entries older than that are dropped.
  let mark = 0
  const sweeper = setInterval(() => {
    for (const id of waiting.keys()) {
      if (id > mark) break
      waiting.delete(id)
      lost++
    }
    mark = next
  }, ackWaitMs)
  sweeper.unref()
  return {
    publish(input, subject, bytes, msgID) {
      const id = ++next
      waiting.set(id, input)
      const h = headers()
      h.set('Nats-Msg-Id', msgID)
      try {
        nc.publish(subject, bytes, { reply: prefix + id, headers: h })
      } catch {
        // a closed connection or an oversized output: the input goes back to be redelivered
        waiting.delete(id)
        nak(input)
      }
    },
    inFlight: () => waiting.size,
    lost: () => lost,
    close() {
      clearInterval(sweeper)
      sub.unsubscribe()
    },
  }
}

/** True for a PubAck that stored (or deduplicated) the message; false for a refusal or no stream. */
function isPubAck(r: Msg): boolean {
  if (r.data.length === 0) return false
  try {
    const ack = JSON.parse(r.string()) as { error?: unknown; seq?: unknown }
    return ack.error === undefined && typeof ack.seq === 'number'
  } catch {
    return false
  }
}
