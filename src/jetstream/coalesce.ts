import type { AckPublisher, PubAck, PublishOptions } from './publisher-types.ts'

interface Queued {
  readonly subject: string
  readonly payload: Uint8Array
  readonly opts: PublishOptions | undefined
  resolve(ack: PubAck): void
  reject(err: unknown): void
}

/**
 * Holds publishes until the event loop's check phase and sends them together. The NATS client
 * writes to its socket once per microtask flush, and every HTTP request runs in a macrotask of
 * its own, so without this each request pays a socket write; with it, the requests parsed in
 * one poll phase share one. The wait is at most the rest of the current loop turn.
 */
export function coalescePublishes(inner: AckPublisher): AckPublisher {
  let queue: Queued[] = []
  const flush = () => {
    const batch = queue
    queue = []
    for (const q of batch) {
      // a synchronous throw (a closed publisher) must reject this publish, not the whole batch
      try {
        inner.publish(q.subject, q.payload, q.opts).then(q.resolve, q.reject)
      } catch (err) {
        q.reject(err)
      }
    }
  }
  return {
    publish(subject, payload, opts) {
      if (queue.length === 0) setImmediate(flush)
      return new Promise<PubAck>((resolve, reject) => queue.push({ subject, payload, opts, resolve, reject }))
    },
  }
}
