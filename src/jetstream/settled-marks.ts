// Marks that say "this delivery's effects on JetStream are stored" for a message whose
// acknowledgement is still to come: a redelivery reads the mark and does not publish again.
//
// Why they exist. A pipeline worker publishes an event's outputs (or its dead letter), then waits
// for ClickHouse to take the outcome rows, then acks. Outputs carry deterministic message ids, but
// the stream drops a repeated id only inside its duplicate window (10 min by default). When the wait is longer
// (ClickHouse down) and the event is redelivered afterwards (the worker closed or died, then
// started again), publishing again would store every output a second time. With a mark written
// right after the last PubAck, the redelivery finds it, publishes nothing, writes the rows it
// holds, and acks.
//
// Why the bucket's TTL is the events stream's max age. A mark is written after its message was
// stored, so it is younger than the message; once the mark expires, the message has expired from
// the stream too and can never be redelivered. A stream kept "until limits" (max age 0) gives
// marks no expiry: they are few, since only events whose rows were slow get one.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { BucketOptions } from './replicas.ts'
import type { AckPublisher } from './publisher-types.ts'
import { EVENTS_STREAM } from './topology.ts'
import { whileElecting } from './while-electing.ts'

export const SETTLED_BUCKET = 'omni-settled'

/** What a delivery stored in JetStream, and the outcome rows a redelivery is to write for it. */
export type SettledMark<Outcome = unknown> =
  /** every output was PubAck'd; the rows of this attempt are still to be written */
  | { readonly type: 'published'; readonly attempt: number; readonly dropped?: { readonly stage: string; readonly reason: string }; readonly outcomes: readonly Outcome[] }
  /** the dead letter was PubAck'd; the rows and the term are still to come */
  | { readonly type: 'dead-lettered'; readonly attempt: number; readonly stage: string; readonly error: string; readonly outcomes: readonly Outcome[] }

/** Marks keyed by (consumer, stream sequence). */
export interface SettledMarks {
  /** the mark of a message, if one was written and has not expired */
  get(consumer: string, seq: number): Promise<SettledMark | undefined>
  /** writes the mark and resolves once the stream has stored it */
  put(consumer: string, seq: number, mark: SettledMark): Promise<void>
}

/** The bucket's key: consumer names (pipelines, `_recorder`) are valid key tokens. */
const keyOf = (consumer: string, seq: number) => `${consumer}.${seq}`

/**
 * Opens (or creates) the marks bucket with a TTL equal to the events stream's max age, read from
 * the server (an operator's setting counts); an existing bucket is brought to that TTL.
 */
export async function openSettledMarks(js: JetStreamClient, jsm: JetStreamManager, publisher: AckPublisher, opts: BucketOptions = {}): Promise<SettledMarks> {
  const maxAgeNs = (await jsm.streams.info(EVENTS_STREAM)).config.max_age
  const kv: KV = await whileElecting(() => new Kvm(js).create(SETTLED_BUCKET, { ttl: Math.ceil(maxAgeNs / 1_000_000), history: 1, ...opts }))
  const stream = `KV_${SETTLED_BUCKET}`
  const config = (await jsm.streams.info(stream)).config
  if (config.max_age !== maxAgeNs) await jsm.streams.update(stream, { ...config, max_age: maxAgeNs })
  return {
    async get(consumer, seq) {
      const e = await kv.get(keyOf(consumer, seq))
      return e?.operation === 'PUT' ? (e.json<SettledMark>() ?? undefined) : undefined
    },
    // through the node's publisher (one reply subscription for every PubAck), as a KV put is
    async put(consumer, seq, mark) {
      await publisher.publish(`$KV.${SETTLED_BUCKET}.${keyOf(consumer, seq)}`, Buffer.from(JSON.stringify(mark)), { expectStream: stream })
    },
  }
}
