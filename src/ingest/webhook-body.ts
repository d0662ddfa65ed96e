import { isUtf8 } from 'node:buffer'
import sjson from 'secure-json-parse'
import type { Problem } from '../errors/mod.ts'

/** A webhook body read from its exact bytes: the JSON value, or why it cannot be one. */
export interface WebhookBody {
  /**
   * The parsed JSON, when there is one. For a body with invalid UTF-8 this is the lenient
   * decoding (U+FFFD in place of bad bytes): good enough to find a credential in it, never
   * published.
   */
  readonly value: unknown
  /** why the body cannot be normalized; undefined for a valid JSON document */
  readonly refused?: { readonly reason: string; readonly problems: Problem[] }
}

const JSON_TYPE = /^(application|text)\/([\w.+-]*\+)?json\s*(;|$)/i

/**
 * Reads a webhook body as strict JSON: UTF-8 only (a bad byte would otherwise become U+FFFD
 * silently and change ids and keys), no `__proto__` or `constructor.prototype` keys. The content
 * type is not trusted either way: providers label JSON as text/plain; it only helps the message.
 */
export function readWebhookBody(raw: Buffer, contentType: string | undefined): WebhookBody {
  if (raw.length === 0) return { value: undefined, refused: { reason: 'the body is empty', problems: [{ where: '$', message: 'must be a JSON document' }] } }
  const text = raw.toString('utf8')
  let value: unknown
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    const declared = contentType && !JSON_TYPE.test(contentType) ? ` (it was sent as ${contentType.split(';')[0]})` : ''
    const detail = (err as Error).message
    return { value: undefined, refused: { reason: `the body is not JSON${declared}: ${detail}`, problems: [{ where: '$', message: `must be a JSON document: ${detail}` }] } }
  }
  if (!isUtf8(raw)) {
    const offset = firstInvalidByte(raw)
    const where = pathOrRoot(value)
    return { value, refused: { reason: `the body is not valid UTF-8 (an invalid byte at offset ${offset})`, problems: [{ where, message: `must be valid UTF-8 (an invalid byte at offset ${offset} of the body)` }] } }
  }
  return { value }
}

/** The offset of the first byte that does not start a valid UTF-8 sequence, or -1. */
export function firstInvalidByte(b: Uint8Array): number {
  let i = 0
  while (i < b.length) {
    const c = b[i] as number
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0
    // the short slice's own check catches truncation, overlong forms and surrogates
    if (n === 0 || (n > 1 && !isUtf8(b.subarray(i, i + n)))) return i
    i += n
  }
  return -1
}

/** Where the bad bytes are; `$` when the document nests too deep to walk (it is refused either way). */
function pathOrRoot(value: unknown): string {
  try {
    return replacementPath(value) ?? '$'
  } catch (err) {
    if (err instanceof RangeError) return '$'
    throw err
  }
}

const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/

/** The JSON path of the first key or string holding U+FFFD (where the bad bytes were). */
function replacementPath(v: unknown, at = '$'): string | undefined {
  if (typeof v === 'string') return v.includes('\uFFFD') ? at : undefined
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = replacementPath(v[i], `${at}[${i}]`)
      if (p) return p
    }
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  for (const [k, x] of Object.entries(v)) {
    const path = PLAIN_KEY.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`
    if (k.includes('\uFFFD')) return path
    const p = replacementPath(x, path)
    if (p) return p
  }
  return undefined
}
