import type { ServerResponse } from 'node:http'
import type { LiveEvent, LiveEvents } from '../node/mod.ts'

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
export function writeEventStream(events: LiveEvents, begin: () => ServerResponse, heartbeatMs: number, signal: AbortSignal): EventStream {
  // the events are opened first by the caller: a filter the server refuses still gets an ordinary error response
  const out = begin()
  const done = Promise.withResolvers<void>()
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      clearInterval(heartbeat)
      signal.removeEventListener('abort', onGone)
      await events.close()
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
    try {
      await send(`retry: ${RETRY_MS}\n: connected\n\n`)
      for await (const e of events) {
        if (closing) break
        await send(frame(e))
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
 * One SSE event for a stored message. Stored bytes may come from any NATS publisher, so neither
 * the type nor the text may end a field early: a forged `id:` line would break Last-Event-ID resume.
 */
function frame({ seq, text, parsed }: LiveEvent): string {
  const head = typeof parsed?.value === 'object' && parsed.value !== null ? (parsed.value as { type?: unknown }) : undefined
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
