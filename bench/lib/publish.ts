import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher, type Publisher } from '../../src/jetstream/publisher.ts'
import { benchEvent } from './fixtures.ts'
import { storedOn } from './topology.ts'
import type { BenchContext, Progress } from './types.ts'
import { closeQuietly } from './worker.ts'
import { ingestMsgId } from '../../src/wire/mod.ts'

/** One message to publish: subject, bytes and (optionally) its Nats-Msg-Id. */
export interface OutgoingMessage {
  readonly subject: string
  readonly bytes: Uint8Array
  readonly msgID?: string
}

export interface PublishAllResult {
  readonly acked: number
  readonly failed: number
  readonly seconds: number
  readonly firstError?: string
}

const PROGRESS_EVERY = 1024
/** publishes awaiting their ack at once (the fast publisher's default) */
export const PUBLISH_WINDOW = 4096

/** The fast publisher with a known window, so loops can fill it without yielding per message. */
export function createBenchPublisher(nc: NatsConnection): Publisher {
  return createPublisher(nc, { maxInFlight: PUBLISH_WINDOW })
}

/**
 * Publishes `count` messages through a bench publisher as fast as its window allows and
 * resolves once every ack (or failure) is in, or when `timeoutMs` passes. It waits only when
 * the window is full: yielding once per message would also flush the socket once per message
 * (nats.js flushes on a microtask), which costs more than the publish itself.
 */
export async function publishAll(publisher: Publisher, count: number, make: (i: number) => OutgoingMessage, progress: Progress, timeoutMs: number): Promise<PublishAllResult> {
  const started = performance.now()
  const deadline = started + timeoutMs
  let acked = 0
  let failed = 0
  let firstError: string | undefined
  const all = Promise.withResolvers<void>()
  const settle = () => {
    if ((acked + failed) % PROGRESS_EVERY === 0) progress.update(acked + failed)
    if (acked + failed === count) all.resolve()
  }
  const onAck = () => {
    acked++
    settle()
  }
  const onError = (err: unknown) => {
    failed++
    firstError ??= err instanceof Error ? err.message : String(err)
    settle()
  }
  let sent = 0
  for (; sent < count && performance.now() < deadline; sent++) {
    if (publisher.pending >= PUBLISH_WINDOW) await publisher.ready()
    const m = make(sent)
    publisher.publish(m.subject, m.bytes, m.msgID === undefined ? undefined : { msgID: m.msgID }).then(onAck, onError)
  }
  if (count === 0) all.resolve()
  if (sent < count) failed += count - sent
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - performance.now()))))
  await Promise.race([all.promise, late])
  clearTimeout(timer)
  progress.update(acked + failed)
  progress.stop()
  const unsettled = count - acked - failed
  return {
    acked,
    failed: failed + unsettled,
    seconds: (performance.now() - started) / 1000,
    ...(firstError !== undefined ? { firstError } : unsettled > 0 ? { firstError: `${unsettled} ack(s) still missing after ${timeoutMs} ms` } : {}),
  }
}

/**
 * Pre-publishes `count` valid bench events on their own connection (so the end-to-end runs start
 * with a full stream); returns an event's size and how many the stream holds.
 */
export async function prePublish(ctx: BenchContext, run: string, count: number, label: string): Promise<{ expected: number; bytes: number; seconds: number }> {
  const nc = await connectNats(ctx.url, { name: 'omni-bench-e2e-producer' })
  const publisher = createBenchPublisher(nc)
  let bytes = 0
  try {
    const r = await publishAll(
      publisher,
      count,
      (i) => {
        const e = benchEvent(ctx.fixtures.catalog, run, i)
        bytes = e.bytes.byteLength
        return { subject: e.subject, bytes: e.bytes, msgID: ingestMsgId(e.event.tenant, e.event.idempotencykey) }
      },
      ctx.progress(label, count),
      ctx.sizes.phaseTimeoutSeconds * 1000,
    )
    if (r.acked === 0) throw new Error(`could not pre-publish: ${r.firstError ?? 'no acks'}`)
    return { expected: await storedOn(ctx, ctx.fixtures.sourceSubject), bytes, seconds: r.seconds }
  } finally {
    await publisher.close()
    await closeQuietly(nc)
  }
}
