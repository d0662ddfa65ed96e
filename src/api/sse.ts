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
 * its own consumer instead of filling memory. `signal` ends the stream: the caller aborts it when
 * the client goes (it may go while the consumer is being created) or the API closes.
 */
export async function openEventStream(js: JetStreamClient, begin: () => ServerResponse, filter: StreamFilter, heartbeatMs: number, signal: AbortSignal): Promise<EventStream> {
  // the consumer first: a filter the server refuses still gets an ordinary error response
  const consumer = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: [...filter.subjects],
    ...(filter.after === undefined ? { deliver_policy: DeliverPolicy.New } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: filter.after + 1 }),
  })
  const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 }).catch(async (err: unknown) => {
    await consumer.delete().catch(() => undefined)
    throw err
  })
  const out = begin()
  const done = Promise.withResolvers<void>()
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      clearInterval(heartbeat)
      signal.removeEventListener('abort', onGone)
      await messages.close().catch(() => undefined)
      // an ordered consumer would otherwise stay on the server for its inactive threshold (5 min)
      await consumer.delete().catch(() => undefined)
      if (!out.writableEnded) out.end()
      done.resolve()
    })()
    return closing
  }
  const onGone = () => void close()
  const heartbeat = setInterval(() => {
    if (out.destroyed) onGone()
    else if (!out.writableNeedDrain) out.write(`: heartbeat ${new Date().toISOString()}\n\n`)
  }, heartbeatMs)
  heartbeat.unref()
  signal.addEventListener('abort', onGone, { once: true })
  out.on('close', onGone)
  // the client may have gone, or the API begun to close, while the consumer was being created
  if (signal.aborted || out.destroyed) onGone()

  /** Writes a chunk; when the socket buffer is full, waits until it drains or closes. */
  const send = async (chunk: string): Promise<void> => {
    if (out.destroyed) return onGone()
    if (out.write(chunk)) return
    // a destroyed response never drains: its 'close' has been or will be seen
    if (out.destroyed) return onGone()
    await new Promise<void>((resolve) => {
      const go = () => {
        out.off('drain', go).off('close', go)
        resolve()
      }
      out.on('drain', go).on('close', go)
    })
  }

  void (async () => {
    const decoder = new TextDecoder()
    try {
      await send(`retry: ${RETRY_MS}\n: connected\n\n`)
      for await (const m of messages) {
        if (closing) break
        const chunk = frame(m.seq, decoder.decode(m.data), filter)
        if (chunk !== undefined) await send(chunk)
        if (closing) break
      }
    } finally {
      await close()
    }
  })()
  return { close, closed: () => done.promise }
}

/** An event name that cannot carry a line break or anything else that would end the field. */
const EVENT_NAME = /^[A-Za-z0-9_.-]{1,256}$/
/** SSE ends a field at CR, LF or CRLF. */
const LINE_BREAK = /\r\n|\r|\n/

/**
 * One SSE event for a stored message, or undefined when the filter leaves it out. Stored bytes
 * may come from any NATS publisher, so neither the type nor the text may end a field early: a
 * forged `id:` line would break Last-Event-ID resume.
 */
function frame(seq: number, text: string, filter: StreamFilter): string | undefined {
  const parsed = parse(text)
  const head = typeof parsed?.value === 'object' && parsed.value !== null ? (parsed.value as Head) : undefined
  if (!matches(head, filter)) return undefined
  const type = typeof head?.type === 'string' && EVENT_NAME.test(head.type) ? head.type : 'event'
  // one-line text goes as stored; pretty-printed JSON is made one line; other text takes a data
  // line per line, which the client joins back with "\n"
  const data = !LINE_BREAK.test(text)
    ? `data: ${text}`
    : parsed
      ? `data: ${JSON.stringify(parsed.value)}`
      : text
          .split(LINE_BREAK)
          .map((line) => `data: ${line}`)
          .join('\n')
  return `id: ${seq}\nevent: ${type}\n${data}\n\n`
}

type Head = { type?: unknown; tenant?: unknown; instance?: unknown }

function parse(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch {
    // a producer outside the API may publish anything; it is still shown, under `event`
    return undefined
  }
}

function matches(e: Head | undefined, filter: StreamFilter): boolean {
  return (filter.tenant === undefined || e?.tenant === filter.tenant) && (filter.instance === undefined || e?.instance === filter.instance)
}
