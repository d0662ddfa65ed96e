import { hash } from 'node:crypto'
import type { Envelope } from './schema.ts'

/** Current time as a UTC RFC 3339 string (the only time format envelopes carry). */
export function utcNow(now: number = Date.now()): string {
  return new Date(now).toISOString()
}

/** A short stable hash, for ids and keys that must come out the same on redelivery. */
export function stableHash(...parts: readonly string[]): string {
  // each part followed by NUL, hashed in one shot: the same digest as feeding a Hash object the
  // parts one by one (a NUL always ends a part, so no surrogate pair can form across parts), at a
  // fraction of its cost; this runs several times per event (ingest keys, dedup, derived events)
  return hash('sha256', parts.map((p) => `${p}\u0000`).join(''), 'base64url').slice(0, 22)
}

export interface DeriveOptions {
  readonly type: string
  readonly data: Record<string, unknown>
  readonly source?: string
  /** distinguishes several events derived from the same parent with the same type */
  readonly discriminator?: string
  readonly time?: string
}

/**
 * Builds an event caused by `parent` (a command, a synthesized event). Its id and idempotency
 * key are derived from the parent's, so a redelivered parent yields the very same child and the
 * stream's duplicate window drops the second copy.
 */
export function deriveEvent(parent: Readonly<Envelope>, opts: DeriveOptions): Envelope {
  const disc = opts.discriminator ?? ''
  const child: Envelope = {
    specversion: '1.0',
    id: stableHash(parent.id, opts.type, disc),
    source: opts.source ?? parent.source,
    type: opts.type,
    time: opts.time ?? parent.time,
    data: opts.data,
    tenant: parent.tenant,
    visibility: parent.visibility,
    idempotencykey: `${opts.type}:${stableHash(parent.idempotencykey, disc)}`,
    correlationid: parent.correlationid ?? parent.id,
    causationid: parent.id,
  }
  for (const k of ['instance', 'provider', 'actor', 'conversation', 'traceparent'] as const) {
    const v = parent[k]
    if (v !== undefined) child[k] = v
  }
  return child
}
