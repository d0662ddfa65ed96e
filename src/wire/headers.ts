/**
 * Every header Omni Fabric reads or writes on a NATS message, with an encoder and a decoder for
 * each group, so writer and reader cannot drift apart.
 */

/** Headers the NATS server reads on a publish. */
export const NATS_HEADERS = {
  /** the stream drops a repeat of this id inside its duplicate window */
  msgId: 'Nats-Msg-Id',
  /** the publish fails unless this stream captures the subject */
  expectedStream: 'Nats-Expected-Stream',
} as const

/** Failure metadata carried as headers on each dead letter (the body is the original bytes). */
export const DLQ_HEADERS = {
  pipeline: 'Omni-Pipeline',
  stage: 'Omni-Stage',
  error: 'Omni-Error',
  attempts: 'Omni-Attempts',
  subject: 'Omni-Original-Subject',
  sequence: 'Omni-Original-Seq',
  failedAt: 'Omni-Failed-At',
} as const

/** The pipeline that published a message; ingested events carry none. */
export const EMITTED_BY_HEADER = 'Omni-Emitted-By'

/**
 * The additive (alpha/community) stage whose emission a message is, beside its pipeline's
 * Omni-Emitted-By. Set by the host only: a pipeline reading such a message keys it in the
 * stage's own namespace (decodeKeyOrigin), so a key the plugin chose cannot take the id or the
 * guard.dedup marker of an approved output downstream either.
 */
export const ADDITIVE_STAGE_HEADER = 'Omni-Additive-Stage'

/** What the headers of a received or stored message offer (NATS answers '' for a missing one). */
export interface HeaderReader {
  get(name: string): string
}

/** Headers to publish with, by name. */
export type HeaderMap = Record<string, string>

/** Marks a pipeline output with the pipeline that published it. */
export function encodeEmittedBy(pipeline: string): HeaderMap {
  return { [EMITTED_BY_HEADER]: pipeline }
}

/** The pipeline that published the message; '' for an ingested event. */
export function decodeEmittedBy(h: HeaderReader | undefined): string {
  return h?.get(EMITTED_BY_HEADER) ?? ''
}

/**
 * Who ingested an event, set by the host on every ingest publish (never read from the client):
 * `client` for the CloudEvents API and `omni publish`, `webhook:<provider>:<instance>` for a
 * webhook delivery, `node` for what the node publishes itself. Keys a stage remembers (guard.dedup markers) are kept per origin, so what a
 * client sends can only ever match what that same way in sent.
 */
export const INGEST_ORIGIN_HEADER = 'Omni-Ingest-Origin'
export const CLIENT_ORIGIN = 'client'
/** The node's own publishes of the types only it may raise (cartridge events, its mesh audit). */
export const NODE_ORIGIN = 'node'
export const webhookOrigin = (provider: string, instance: string): string => `webhook:${provider}:${instance}`

export function encodeIngestOrigin(origin: string): HeaderMap {
  return { [INGEST_ORIGIN_HEADER]: origin }
}

/**
 * The way in of the event a message is, or (for an output) derives from: the ingest origin
 * header, which a pipeline forwards onto its outputs (outputWithOrigin), and `client` when there
 * is none (a producer on NATS, an output stored before outputs carried it). omni_events keeps
 * one row per key, subject and this: a client's event reusing a webhook message's key is a row
 * of its own.
 */
export function decodeIngestOrigin(h: HeaderReader | undefined): string {
  return h?.get(INGEST_ORIGIN_HEADER) || CLIENT_ORIGIN
}

/**
 * An output's headers: its emitter's, plus the ingest origin of the message it derives from,
 * so the output is recorded apart from what the same pipeline makes of another origin's event
 * with the same key. The key namespace of the output itself stays `out:<pipeline>` (decodeKeyOrigin).
 */
export function outputWithOrigin(emitter: HeaderMap, source: HeaderReader | undefined): HeaderMap {
  const origin = source?.get(INGEST_ORIGIN_HEADER)
  return origin ? { ...emitter, [INGEST_ORIGIN_HEADER]: origin } : emitter
}

/**
 * The namespace of a message's keys: `out:<pipeline>` for a pipeline's output, the ingest origin
 * for an ingested event, and `client` when neither header is there (a producer on NATS).
 * An output whose source came in another way than a client's also names that way in,
 * `out:<pipeline>:<origin>` (pipeline names hold no `:`): otherwise a pipeline on that output
 * would give what it makes of a client's event and of a webhook message with the same key one
 * message id and one guard.dedup key, and drop the real one. Outputs of a client's event keep
 * `out:<pipeline>`, the ids and markers they had before outputs carried their origin.
 */
export function decodeKeyOrigin(h: HeaderReader | undefined): string {
  const emitter = decodeEmittedBy(h)
  const origin = h?.get(INGEST_ORIGIN_HEADER) || CLIENT_ORIGIN
  if (!emitter) return origin
  const additive = h?.get(ADDITIVE_STAGE_HEADER)
  const namespace = additive ? `emit:${emitter}:${additive}` : `out:${emitter}`
  return origin === CLIENT_ORIGIN ? namespace : `${namespace}:${origin}`
}

/**
 * The headers that say whose keys a message carries (its emitter, its ingest origin): a dead
 * letter keeps them and its redrive sends them on, so a redriven event keeps its key namespace.
 */
export function carriedKeyOrigin(h: HeaderReader | undefined): HeaderMap {
  const out: HeaderMap = {}
  for (const name of [EMITTED_BY_HEADER, ADDITIVE_STAGE_HEADER, INGEST_ORIGIN_HEADER]) {
    const v = h?.get(name)
    if (v) out[name] = v
  }
  return out
}

/** Where a message first entered the events stream. */
export interface Origin {
  readonly subject: string
  readonly seq: number
}

/** Names the origin on a copy (a dead letter, a redriven event), so it keeps naming where it came from. */
export function encodeOrigin(o: Origin): HeaderMap {
  return { [DLQ_HEADERS.subject]: o.subject, [DLQ_HEADERS.sequence]: String(o.seq) }
}

/** The origin a copy names, or `self` (the message's own subject and sequence) for an original. */
export function decodeOrigin(h: HeaderReader | undefined, self: Origin): Origin {
  return { subject: decodeOriginalSubject(h, self.subject), seq: Number(h?.get(DLQ_HEADERS.sequence)) || self.seq }
}

/** Only the subject of decodeOrigin, for readers that need no more (the recorder, per event). */
export function decodeOriginalSubject(h: HeaderReader | undefined, subject: string): string {
  return h?.get(DLQ_HEADERS.subject) || subject
}

/** Why and where an event was dead-lettered. */
export interface DeadLetterMeta {
  readonly pipeline: string
  readonly stage: string
  readonly error: string
  readonly attempts: number
  readonly originalSubject: string
  readonly originalSeq: number
  readonly failedAt: string
}

/** Longest error kept on a dead letter: one bad event cannot bloat the DLQ. */
const MAX_ERROR_LENGTH = 1024

export function encodeDeadLetter(m: DeadLetterMeta): HeaderMap {
  return {
    [DLQ_HEADERS.pipeline]: m.pipeline,
    [DLQ_HEADERS.stage]: m.stage,
    // headers are single-line
    [DLQ_HEADERS.error]: m.error.replace(/[\r\n]+/g, ' ').slice(0, MAX_ERROR_LENGTH),
    [DLQ_HEADERS.attempts]: String(m.attempts),
    ...encodeOrigin({ subject: m.originalSubject, seq: m.originalSeq }),
    [DLQ_HEADERS.failedAt]: m.failedAt,
  }
}

/** Reads a dead letter's metadata; a missing header reads as '' (or 0). */
export function decodeDeadLetter(headers: HeaderReader | undefined): DeadLetterMeta {
  const h = (k: string) => headers?.get(k) ?? ''
  return {
    pipeline: h(DLQ_HEADERS.pipeline),
    stage: h(DLQ_HEADERS.stage),
    error: h(DLQ_HEADERS.error),
    attempts: Number(h(DLQ_HEADERS.attempts)) || 0,
    originalSubject: h(DLQ_HEADERS.subject),
    originalSeq: Number(h(DLQ_HEADERS.sequence)) || 0,
    failedAt: h(DLQ_HEADERS.failedAt),
  }
}
