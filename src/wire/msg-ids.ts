/**
 * The Nats-Msg-Id of every message Omni Fabric publishes. The stream drops a repeated id inside
 * its duplicate window, so each id is derived from what makes the message the same message: a
 * retry after a crash then stores nothing twice. Each format has its parser beside it.
 *
 * Every id starts with a namespace of its kind (`in:`, `out:`, `redrive:`, `dlq:`, `raw:`), and a
 * client writes only what follows `in:`: whatever idempotency key it sends, it cannot produce an
 * output's, a redrive's or another internal id, so it cannot make a real message look like a
 * duplicate of its own (invariant 7).
 */

import { CLIENT_ORIGIN } from './headers.ts'

/** The namespace of ingested events: the only one a client's idempotency key lands in. */
export const INGEST_ID_PREFIX = 'in:'
/** The namespace of pipeline outputs. */
export const OUTPUT_ID_PREFIX = 'out:'

/**
 * An event's tenant and idempotency key as one string, `<length of the tenant>.<tenant>:<key>`.
 * Keys are derived from the data (an order number, a provider's message id), so two tenants
 * produce the same key: without the tenant, one tenant's event would be dropped as the other's
 * duplicate, and the answer (`duplicate`, the other's sequence) would tell that it exists. The
 * length makes the pair unambiguous whatever either holds (tenant `a:b` with key `c` is not
 * tenant `a` with key `b:c`).
 */
export const tenantKey = (tenant: string, key: string): string => `${tenant.length}.${tenant}:${key}`

/** Reads a tenantKey back; undefined when `text` is not one. */
export function parseTenantKey(text: string): { tenant: string; key: string } | undefined {
  const m = /^(\d{1,4})\./.exec(text)
  if (!m?.[1]) return undefined
  const start = m[0].length
  const end = start + Number(m[1])
  if (text[end] !== ':') return undefined
  return { tenant: text.slice(start, end), key: text.slice(end + 1) }
}

/**
 * An ingested event: `in:<tenantKey>` from a client (the CloudEvents API, `omni publish`), and
 * `in:<origin>/<tenantKey>` from any other way in (`webhook:<provider>:<instance>`). A webhook's
 * keys are derived from the provider's own message ids, which a client can learn or guess: were
 * both in one namespace, a client could post the key first and the real delivery would be
 * dropped as its duplicate. A client's part always starts with a digit (the tenant's length),
 * an origin never does, so neither can spell the other's id.
 */
export const ingestMsgId = (tenant: string, idempotencyKey: string, origin: string = CLIENT_ORIGIN): string =>
  origin === CLIENT_ORIGIN ? `${INGEST_ID_PREFIX}${tenantKey(tenant, idempotencyKey)}` : `${INGEST_ID_PREFIX}${origin}/${tenantKey(tenant, idempotencyKey)}`

/**
 * The source event's tenantKey inside its key namespace (decodeKeyOrigin): the bare tenantKey
 * for a client's event, `<origin>/<tenantKey>` for any other (a webhook, a pipeline's output).
 * What a pipeline derives from an event carries it, so a client's event that reuses the key of
 * a webhook message (or of another pipeline's output) never takes the id of what the pipeline
 * makes of the real one: the ingest ids are apart, and so must be every id derived from them.
 */
export const originTenantKey = (origin: string, tenant: string, key: string): string =>
  origin === CLIENT_ORIGIN ? tenantKey(tenant, key) : `${origin}/${tenantKey(tenant, key)}`

/**
 * A pipeline output: `out:<originTenantKey>@<pipeline>@<subject>`. The pipeline is part of the id: two
 * pipelines may publish different versions of one event to the same subject, and neither may be
 * dropped as the other's duplicate. Readers learn the emitter from the Omni-Emitted-By header.
 * `origin` is the source event's key namespace (decodeKeyOrigin), `client` by default.
 */
export const outputMsgId = (tenant: string, key: string, pipeline: string, subject: string, origin: string = CLIENT_ORIGIN): string =>
  `${OUTPUT_ID_PREFIX}${originTenantKey(origin, tenant, key)}@${pipeline}@${subject}`

/** The namespace of what additive (alpha/community) stages emit. */
export const ADDITIVE_ID_PREFIX = 'emit:'

/**
 * What an additive stage emitted: `emit:<pipeline>:<stage>:<originTenantKey>@<subject>`. The host
 * derives it; whatever key the plugin puts in its event stays inside this namespace, so the
 * emission can never take an approved output's id.
 */
export const additiveMsgId = (pipeline: string, stage: string, tenant: string, key: string, subject: string, origin: string = CLIENT_ORIGIN): string =>
  `${ADDITIVE_ID_PREFIX}${pipeline}:${stage}:${originTenantKey(origin, tenant, key)}@${subject}`

/** The tenant, key and pipeline of an output id published to `subject`; undefined for another id. */
export function parseOutputMsgId(id: string, subject: string): { tenant: string; key: string; pipeline: string } | undefined {
  const suffix = `@${subject}`
  if (!id.startsWith(OUTPUT_ID_PREFIX) || !id.endsWith(suffix)) return undefined
  const rest = id.slice(OUTPUT_ID_PREFIX.length, -suffix.length)
  // keys and tenants may hold `@`; pipeline names cannot
  const at = rest.lastIndexOf('@')
  // a tenantKey starts with a digit; anything before it up to the first `/` is the source's origin
  const head = at < 0 ? '' : rest.slice(0, at)
  const slash = /^\d/.test(head) ? -1 : head.indexOf('/')
  const scoped = at < 0 ? undefined : parseTenantKey(head.slice(slash + 1))
  return scoped && { ...scoped, pipeline: rest.slice(at + 1) }
}

/** Where a dead letter or a redrive came from: a pipeline and a stream sequence. */
export interface PipelineSeq {
  readonly pipeline: string
  readonly seq: number
}

/** A dead letter: `dlq:<pipeline>:<seq of the original>`, so one event is dead-lettered once. */
export const deadLetterMsgId = (pipeline: string, seq: number): string => `dlq:${pipeline}:${seq}`
/** A redriven dead letter: `redrive:<pipeline>:<seq of the dead letter>`, so a repeated redrive sends it once. */
export const redriveMsgId = (pipeline: string, seq: number): string => `redrive:${pipeline}:${seq}`

export const parseDeadLetterMsgId = (id: string): PipelineSeq | undefined => parsePipelineSeq('dlq', id)
export const parseRedriveMsgId = (id: string): PipelineSeq | undefined => parsePipelineSeq('redrive', id)

function parsePipelineSeq(prefix: string, id: string): PipelineSeq | undefined {
  const [p, pipeline, seq, ...more] = id.split(':')
  if (p !== prefix || !pipeline || more.length > 0 || !/^[0-9]+$/.test(seq ?? '')) return undefined
  return { pipeline, seq: Number(seq) }
}

/**
 * A raw archive payload: `raw:<rawId>`. The same string is its Nats-Msg-Id and the `dataref`
 * a normalized envelope carries to point back at it.
 */
export const rawArchiveId = (rawId: string): string => `raw:${rawId}`

/** The raw id inside a raw archive id; undefined for another id. */
export function parseRawArchiveId(id: string): string | undefined {
  return id.startsWith('raw:') && id.length > 4 ? id.slice(4) : undefined
}

/** The namespace of events admitted from another mesh node. */
export const RECEIVED_ID_PREFIX = 'rcv:'

/**
 * An event admitted from mesh peer `peer`: `rcv:<peer>:<the id it had in the peer's outbox>`
 * (the id it had in the peer's own events stream). Deduplicated by origin node plus that id,
 * which holds its idempotency key: re-sourcing a peer's outbox stores nothing twice, and no
 * client key (always under `in:`) nor another peer's event can take the id.
 */
export const receivedMsgId = (peer: string, outboxMsgId: string): string => `${RECEIVED_ID_PREFIX}${peer}:${outboxMsgId}`

/** What the receiver publishes about a received event it quarantined: one per received event. */
export const quarantinedMsgId = (peer: string, outboxMsgId: string): string => `${RECEIVED_ID_PREFIX}${peer}:${outboxMsgId}@quarantined`

/** The outbox id of a stored event without a Nats-Msg-Id (a producer on NATS that set none): its sequence. */
export const exportedSeqMsgId = (node: string, seq: number): string => `seq:${node}:${seq}`
