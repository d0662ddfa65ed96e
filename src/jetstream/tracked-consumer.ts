import type { ConsumeOptions, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import { startWorkingHeartbeat } from './heartbeat.ts'

/** How much one pull asks for: a message count or a byte budget (the client takes one, not both). */
export type PullOptions = { readonly max_messages: number } | { readonly max_bytes: number }

export interface TrackedConsumerOptions {
  readonly js: JetStreamClient
  readonly stream: string
  readonly consumer: string
  readonly pull: PullOptions
  /**
   * Settles one message (ack, nak or term). Messages are handled concurrently; one whose
   * handler throws is nak'ed to come back in a second.
   */
  readonly handle: (m: JsMsg) => Promise<void>
  /** named in the reason when the consumer stops on its own: `<label> consumer stopped` */
  readonly label: string
  /** called when the consumer stops without close() */
  readonly onFailed?: (reason: string) => void
}

/** A running consumer whose handlers are counted, so close() can wait for them. */
export interface TrackedConsumer {
  /** messages handed to the handler and not settled yet */
  inFlight(): number
  /** Stops pulling and resolves once every handler has settled; the same promise on every call. */
  close(): Promise<void>
}

/**
 * Consumes a durable pull consumer with a callback, keeping every message in flight from
 * redelivery (`working()`) while its handler waits on something slow such as ClickHouse.
 */
export async function startTrackedConsumer(opts: TrackedConsumerOptions): Promise<TrackedConsumer> {
  const consumer = await opts.js.consumers.get(opts.stream, opts.consumer)
  const heartbeat = startWorkingHeartbeat()
  let inFlight = 0
  let closing: Promise<void> | undefined
  const idle: (() => void)[] = []

  const onMessage = (m: JsMsg): void => {
    // after close() began: leave it unacknowledged, it comes back to the next run
    if (closing) return
    inFlight++
    heartbeat.hold(m)
    opts
      .handle(m)
      .catch(() => m.nak(1000))
      .finally(() => {
        heartbeat.release(m)
        inFlight--
        if (inFlight === 0) for (const f of idle.splice(0)) f()
      })
      .catch(() => undefined)
  }

  let messages: ConsumerMessages
  try {
    const pull: ConsumeOptions = 'max_bytes' in opts.pull ? { max_bytes: opts.pull.max_bytes, callback: onMessage } : { max_messages: opts.pull.max_messages, callback: onMessage }
    messages = await consumer.consume(pull)
  } catch (err) {
    heartbeat.stop()
    throw err
  }
  void messages.closed().then((err) => {
    if (!closing) opts.onFailed?.(err ? String(err) : `${opts.label} consumer stopped`)
  })

  return {
    inFlight: () => inFlight,
    close() {
      closing ??= (async () => {
        await messages.close().catch(() => undefined)
        while (inFlight > 0) await new Promise<void>((r) => idle.push(r))
        heartbeat.stop()
      })()
      return closing
    },
  }
}
