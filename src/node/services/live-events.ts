import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream'
import { EVENTS_STREAM } from '../../jetstream/topology.ts'

export interface LiveFilter {
  /** JetStream subjects to read (already derived from types or subjects asked for) */
  readonly subjects: readonly string[]
  readonly tenant?: string
  readonly instance?: string
  /** resume after this stream sequence; absent means only events from now on */
  readonly after?: number
}

/** One stored event as it goes by: its stream sequence (an exact resume point) and its text. */
export interface LiveEvent {
  readonly seq: number
  readonly text: string
  /** the parsed body, when it is JSON */
  readonly parsed: { readonly value: unknown } | undefined
}

/** Stored events from a point on, read from JetStream (not from a buffer in this process). */
export interface LiveEvents extends AsyncIterable<LiveEvent> {
  /** ends the reading and removes its consumer from the server; idempotent */
  close(): Promise<void>
}

/** Opens an ordered consumer on the events stream; a filter the server refuses rejects here. */
export async function followEvents(js: JetStreamClient, filter: LiveFilter): Promise<LiveEvents> {
  const consumer = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: [...filter.subjects],
    ...(filter.after === undefined ? { deliver_policy: DeliverPolicy.New } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: filter.after + 1 }),
  })
  const messages = await consumer.consume({ max_messages: 256 }).catch(async (err: unknown) => {
    await consumer.delete().catch(() => undefined)
    throw err
  })
  let closing: Promise<void> | undefined
  const decoder = new TextDecoder()
  return {
    close: () =>
      (closing ??= (async () => {
        await messages.close().catch(() => undefined)
        // an ordered consumer would otherwise stay on the server for its inactive threshold (5 min)
        await consumer.delete().catch(() => undefined)
      })()),
    async *[Symbol.asyncIterator]() {
      for await (const m of messages) {
        if (closing) return
        const text = decoder.decode(m.data)
        const parsed = parse(text)
        if (matches(parsed, filter)) yield { seq: m.seq, text, parsed }
      }
    },
  }
}

type Head = { type?: unknown; tenant?: unknown; instance?: unknown }

function parse(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch {
    // a producer outside the API may publish anything; it is still shown
    return undefined
  }
}

function matches(parsed: { value: unknown } | undefined, filter: LiveFilter): boolean {
  const e = typeof parsed?.value === 'object' && parsed.value !== null ? (parsed.value as Head) : undefined
  return (filter.tenant === undefined || e?.tenant === filter.tenant) && (filter.instance === undefined || e?.instance === filter.instance)
}
