import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream'
import type { ServerResponse } from 'node:http'
import { EVENTS_STREAM } from '../jetstream/topology.ts'

export interface StreamFilter {
  /** JetStream subjects to read (already derived from types or subjects asked for) */
  readonly subjects: readonly string[]
  readonly tenant?: string
  readonly instance?: string
  /** resume after this stream sequence; absent means only events from now on */
  readonly after?: number
}

/** One open Server-Sent Events response fed by an ordered consumer. */
export interface EventStream {
  close(): Promise<void>
  closed(): Promise<void>
}

/** How long the client should wait before reconnecting, sent once at the start. */
const RETRY_MS = 2000

/**
 * Writes events as SSE (`id:` the stream sequence, `event:` the type, `data:` the envelope) with
 * a comment line every `heartbeatMs`. The stream sequence as the event id is what makes resume
 * exact: a client reconnecting with Last-Event-ID gets every event after it, from JetStream, not
 * from a buffer in this process. Writes wait for the socket to drain, so a slow client slows
 * its own consumer instead of filling memory.
 */
export async function openEventStream(js: JetStreamClient, begin: () => ServerResponse, filter: StreamFilter, heartbeatMs: number): Promise<EventStream> {
  // the consumer first: a filter the server refuses still gets an ordinary error response
  const consumer = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: [...filter.subjects],
    ...(filter.after === undefined ? { deliver_policy: DeliverPolicy.New } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: filter.after + 1 }),
  })
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 })
  const out = begin()
  const done = Promise.withResolvers<void>()
  let closing: Promise<void> | undefined
  const heartbeat = setInterval(() => out.write(`: heartbeat ${new Date().toISOString()}\n\n`), heartbeatMs)
  heartbeat.unref()
  const close = () => {
    closing ??= (async () => {
      clearInterval(heartbeat)
      await messages.close().catch(() => undefined)
      if (!out.writableEnded) out.end()
      done.resolve()
    })()
    return closing
  }
  out.on('close', () => void close())
  out.write(`retry: ${RETRY_MS}\n: connected\n\n`)
  void (async () => {
    try {
      for await (const m of messages) {
        const text = new TextDecoder().decode(m.data)
        const event = parse(text)
        if (!matches(event, filter)) continue
        const type = typeof event?.type === 'string' ? event.type : 'event'
        // an envelope is one JSON line: SSE's data field cannot hold a raw newline, JSON has none
        if (!out.write(`id: ${m.seq}\nevent: ${type}\ndata: ${text}\n\n`)) await new Promise<void>((r) => out.once('drain', r).once('close', r))
        if (closing) break
      }
    } finally {
      await close()
    }
  })()
  return { close, closed: () => done.promise }
}

type Head = { type?: unknown; tenant?: unknown; instance?: unknown } | undefined

function parse(text: string): Head {
  try {
    return JSON.parse(text) as Head
  } catch {
    // a producer outside the API may publish anything; it is still shown, under `event`
    return undefined
  }
}

function matches(e: Head, filter: StreamFilter): boolean {
  return (filter.tenant === undefined || e?.tenant === filter.tenant) && (filter.instance === undefined || e?.instance === filter.instance)
}
