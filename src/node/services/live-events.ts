import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream'
import { tenantAllowed, type TenantScope } from '../../envelope/tenants.ts'
import { EVENTS_STREAM } from '../../jetstream/topology.ts'

export interface LiveFilter {
  /** JetStream subjects to read (already derived from types or subjects asked for) */
  readonly subjects: readonly string[]
  readonly tenant?: string
  /** the caller's tenants: an event of another (or one without a readable tenant) is skipped; undefined is every tenant */
  readonly tenants?: TenantScope
  readonly instance?: string
  /** where reading starts; default 'new' */
  readonly from?: LiveStart
}

/**
 * Where following starts: events stored from now on, every stored event, the last stored event
 * of each subject, or right after a stream sequence (an exact resume point).
 */
export type LiveStart = 'new' | 'all' | 'last-per-subject' | { readonly after: number }

/** One stored event as it goes by: its stream sequence (an exact resume point) and its text. */
export interface LiveEvent {
  readonly seq: number
  /** the subject it was stored on */
  readonly subject: string
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
  const consumer = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [...filter.subjects], ...deliverFrom(filter.from ?? 'new') })
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
        if (matches(parsed, filter)) yield { seq: m.seq, subject: m.subject, text, parsed }
      }
    },
  }
}

function deliverFrom(from: LiveStart) {
  if (typeof from === 'object') return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.after + 1 }
  return { deliver_policy: from === 'all' ? DeliverPolicy.All : from === 'last-per-subject' ? DeliverPolicy.LastPerSubject : DeliverPolicy.New }
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
  return (
    tenantAllowed(filter.tenants, e?.tenant) && (filter.tenant === undefined || e?.tenant === filter.tenant) && (filter.instance === undefined || e?.instance === filter.instance)
  )
}
