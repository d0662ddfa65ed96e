import type { EventCatalog } from '../catalog/catalog.ts'
import { describeError, isOmniError, omniError, type Problem } from '../errors/mod.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { EVENTS_STREAM } from '../jetstream/topology.ts'
import { CLIENT_ORIGIN, encodeIngestOrigin, ingestMsgId } from '../wire/mod.ts'
import { prepareEvent, type EventInput, type PrepareOptions, type PreparedEvent } from './prepare.ts'

/** What became of one ingested event. */
export interface IngestResult {
  readonly id: string
  readonly type: string
  readonly subject: string
  readonly idempotencykey: string
  /** the stream sequence: of this event, or of the earlier copy when it is a duplicate */
  readonly seq: number
  /** true when the stream already had an event with this idempotency key */
  readonly duplicate: boolean
}

/**
 * The most events one request may carry: a CloudEvents batch, or a webhook delivery a generic
 * mapping splits into items. It bounds the work and the publishes one request can cause.
 */
export const MAX_EVENTS_PER_REQUEST = 1000

/** Refuses more events in one request than MAX_EVENTS_PER_REQUEST. */
export function requireEventCount(count: number, what: string): void {
  if (count <= MAX_EVENTS_PER_REQUEST) return
  throw omniError('OMNI_ERR_BODY_TOO_LARGE', `${what} holds ${count} events; at most ${MAX_EVENTS_PER_REQUEST} fit in one request, so send them in several`, { permanent: true })
}

/** Maps a problem's path inside input `index` to where the client wrote it (`$[2].data.text`, `headers.ce-id`). */
export type Locate = (index: number, where: string) => string

/**
 * Validates every input first and returns them prepared only when all are valid, so a refused
 * request leaves nothing behind.
 */
export function prepareAll(catalog: EventCatalog, inputs: readonly unknown[], locate: Locate = (_i, where) => where, defaults: PrepareOptions = {}): PreparedEvent[] {
  requireEventCount(inputs.length, 'the batch')
  const problems: Problem[] = []
  const prepared: PreparedEvent[] = []
  const codes = new Set<string>()
  inputs.forEach((input, i) => {
    try {
      prepared.push(prepareEvent(catalog, input as EventInput, defaults))
    } catch (err) {
      if (!isOmniError(err)) throw err
      codes.add(err.code)
      if (err.problems.length === 0) problems.push({ where: locate(i, err.code === 'OMNI_ERR_UNKNOWN_EVENT_TYPE' ? '$.type' : '$'), message: err.message })
      for (const p of err.problems) problems.push({ where: locate(i, p.where), message: p.message })
    }
  })
  if (problems.length > 0) {
    // only reserved types: the answer says so (403), not that the events are malformed
    if (codes.size === 1 && codes.has('OMNI_ERR_EVENT_RESERVED')) {
      const message = problems.length === 1 ? (problems[0] as Problem).message : `${problems.length} events of types only the node itself publishes`
      throw omniError('OMNI_ERR_EVENT_RESERVED', `${message}; nothing was published`, { problems, permanent: true })
    }
    const unknownOnly = problems.every((p) => p.where.endsWith('.type') || p.where.endsWith('ce-type'))
    throw omniError(unknownOnly ? 'OMNI_ERR_UNKNOWN_EVENT_TYPE' : 'OMNI_ERR_EVENT_INVALID', inputs.length > 1 ? `${problems.length} problem(s) in the batch; nothing was published` : 'invalid event; nothing was published', { problems, permanent: true })
  }
  return prepared
}

/**
 * Publishes prepared events with their idempotency keys as Nats-Msg-Id and waits for every
 * stream ack: a repeat inside the duplicate window comes back `duplicate` and is stored once.
 * Every way in (HTTP, webhooks, the CLI) publishes through here, naming itself as `origin`.
 *
 * Every publish is settled before the answer, so a refusal never leaves publishes of the same
 * request still in flight. When some are refused (the stream is full midway through a batch),
 * the ones already stored stay stored, and the error says how many: the client retries the
 * whole request with the same ids, the stored ones come back `duplicate`, and the batch ends up
 * complete and stored once.
 */
export async function publishPrepared(publisher: AckPublisher, prepared: readonly PreparedEvent[], origin: string = CLIENT_ORIGIN): Promise<IngestResult[]> {
  const headers = encodeIngestOrigin(origin)
  const settled = await Promise.allSettled(
    prepared.map(async (p): Promise<IngestResult> => {
      const ack = await publisher.publish(p.subject, p.bytes, { msgID: ingestMsgId(p.event.tenant, p.event.idempotencykey, origin), expectStream: EVENTS_STREAM, headers })
      return { id: p.event.id, type: p.event.type, subject: p.subject, idempotencykey: p.event.idempotencykey, seq: ack.seq, duplicate: ack.duplicate }
    }),
  )
  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [{ index: i, reason: s.reason as unknown }] : []))
  const first = failed[0]
  if (!first) return settled.map((s) => (s as PromiseFulfilledResult<IngestResult>).value)
  if (prepared.length === 1) throw first.reason
  const stored = prepared.length - failed.length
  const err = first.reason
  const message = `${failed.length} of ${prepared.length} events were not stored (${describeError(err)}); ${stored} were: send the same request again, with the same ids, and those come back as duplicates`
  if (!isOmniError(err)) throw omniError('OMNI_ERR_PUBLISH_FAILED', message, { cause: err })
  throw omniError(err.code, message, {
    cause: err,
    problems: failed.slice(0, 20).map((f) => ({ where: `$[${f.index}]`, message: describeError(f.reason) })),
    ...(err.retryAfterS !== undefined ? { retryAfterS: err.retryAfterS } : {}),
  })
}

/** Validates and publishes one event (a convenience for tests and tools over `publishPrepared`). */
export async function publishEvent(publisher: AckPublisher, catalog: EventCatalog, input: EventInput, opts?: PrepareOptions): Promise<PreparedEvent & { readonly ack: { readonly seq: number; readonly duplicate: boolean } }> {
  const prepared = prepareEvent(catalog, input, opts)
  const [result] = await publishPrepared(publisher, [prepared])
  return { ...prepared, ack: { seq: (result as IngestResult).seq, duplicate: (result as IngestResult).duplicate } }
}
