import { hash } from 'node:crypto'
import { rawArchiveId } from '../wire/mod.ts'
import { toClickHouseTime } from './time.ts'

/** A provider payload exactly as it arrived, before normalization. */
export interface RawPayload {
  readonly provider: string
  readonly instance: string
  readonly tenant: string
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Uint8Array
  readonly receivedAt?: number
  /** more header names that carry the source's credential (its configured auth header) */
  readonly secretHeaders?: readonly string[]
  /** credentials inside the body (a provider's API key): masked wherever they appear in it */
  readonly secretValues?: readonly string[]
}

export interface RawRow {
  raw_id: string
  received_at: string
  provider: string
  instance: string
  tenant: string
  content_type: string
  headers: Record<string, string>
  body: string
  sha256: string
  size: number
}

const REDACTED = '[redacted]'

/** The bytes as UTF-8 text, read in place (Buffer.from(bytes) would copy them first). */
const utf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')

/** Replaces each secret as it is written inside a JSON string; everything else stays byte for byte. */
function maskValues(body: string, secrets: readonly string[]): string {
  let out = body
  // short values could match ordinary text: a credential is never that short
  for (const secret of secrets) if (secret.length >= 8) out = out.split(JSON.stringify(secret).slice(1, -1)).join(REDACTED)
  return out
}

/** Headers that carry credentials: never archived, whatever their case. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|apikey|x-hub-signature(-256)?|x-signature-ed25519|x-.*-(token|secret|signature))$/i

/**
 * The archive row for a raw payload. Its id is derived from provider, instance and the body's
 * digest, so a provider retrying the same delivery archives it once; `dataref` is what the
 * normalized envelope carries to point back at it.
 */
export function rawRow(p: RawPayload): { row: RawRow; dataref: string } {
  // the digest (and so the dedup id) is of the bytes received, before any masking or decoding
  // one-shot digests: a Hash object costs several times more, and this runs on every delivery
  const sha256 = hash('sha256', p.body, 'hex')
  const body = maskValues(typeof p.body === 'string' ? p.body : utf8(p.body), p.secretValues ?? [])
  const rawId = hash('sha256', `${p.provider}\u0000${p.instance}\u0000${sha256}`, 'base64url').slice(0, 32)
  const extra = new Set((p.secretHeaders ?? []).map((h) => h.toLowerCase()))
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(p.headers)) headers[k.toLowerCase()] = SECRET_HEADERS.test(k) || extra.has(k.toLowerCase()) ? REDACTED : v
  return {
    row: {
      raw_id: rawId,
      received_at: toClickHouseTime(p.receivedAt ?? Date.now()),
      provider: p.provider,
      instance: p.instance,
      tenant: p.tenant,
      content_type: p.contentType,
      headers,
      body,
      sha256,
      size: typeof p.body === 'string' ? Buffer.byteLength(p.body) : p.body.byteLength,
    },
    dataref: rawArchiveId(rawId),
  }
}
