import { createHash, createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import { omniError } from '../errors/mod.ts'

export const AUTH_TYPES = ['shared-secret', 'hmac-sha256', 'hmac-sha256-timestamped', 'ed25519', 'evolution-apikey'] as const
export type WebhookAuthType = (typeof AUTH_TYPES)[number]

/** A source's auth with its secret read from the environment (never from YAML). */
export type CompiledWebhookAuth =
  | { readonly type: 'shared-secret'; readonly header: string; readonly secret: string }
  | { readonly type: 'hmac-sha256'; readonly header: string; readonly encoding: 'hex' | 'base64'; readonly secret: string }
  /** HMAC over `<timestamp>.<body>`: the signature dates the delivery, so a replay is refused once it is old */
  | { readonly type: 'hmac-sha256-timestamped'; readonly header: string; readonly timestampHeader: string; readonly encoding: 'hex' | 'base64'; readonly secret: string }
  | { readonly type: 'ed25519'; readonly key: KeyObject }
  | { readonly type: 'evolution-apikey'; readonly header: string; readonly secret: string }

export const DEFAULT_HEADERS = { 'shared-secret': 'x-omni-webhook-secret', 'hmac-sha256': 'x-omni-signature', 'hmac-sha256-timestamped': 'x-omni-signature', 'evolution-apikey': 'apikey' } as const
/** Where a timestamped HMAC delivery carries its Unix time (seconds), unless the source names another header. */
export const DEFAULT_TIMESTAMP_HEADER = 'x-omni-timestamp'

/**
 * A signed timestamp (ed25519, timestamped HMAC) more than this far from now, either way, is
 * refused, against replays. A replay accepted inside it can arrive at most twice this long after
 * the first delivery (a sender's clock ahead by the whole tolerance): the streams' duplicate
 * window is at least that long (DEFAULT_DUPLICATE_WINDOW_MS), so such a replay is dropped there.
 */
export const MAX_SIGNATURE_AGE_S = 300

export interface SignedRequest {
  /** header names in lower case */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly rawBody: Buffer
  /**
   * The body as JSON, parsed only for the one auth that reads a credential in it
   * (evolution-apikey): every signature is checked on the raw bytes before anything parses them
   */
  readonly parseBody: () => unknown
}

/** An ed25519 public key from the 64 hex characters Discord shows for an application. */
export function ed25519Key(hex: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(hex, 'hex').toString('base64url') }, format: 'jwk' })
}

// digests first, so the comparison takes the same time whatever the lengths
const same = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())

const refuse = (message: string) => omniError('OMNI_ERR_WEBHOOK_AUTH', message)

/** Checks a delivery against its source's auth; throws OMNI_ERR_WEBHOOK_AUTH (never naming the secret). */
export function verifyWebhook(auth: CompiledWebhookAuth, req: SignedRequest, now = Date.now()): void {
  switch (auth.type) {
    case 'shared-secret': {
      const given = req.headers[auth.header]
      if (!given) throw refuse(`the ${auth.header} header is missing`)
      if (!same(given, auth.secret)) throw refuse(`the ${auth.header} header does not match the source's secret`)
      return
    }
    case 'hmac-sha256': {
      const given = signatureOf(auth, req)
      const expected = createHmac('sha256', auth.secret).update(req.rawBody).digest(auth.encoding)
      if (!same(given, expected)) throw refuse(`the ${auth.header} signature does not match the body`)
      return
    }
    case 'hmac-sha256-timestamped': {
      const given = signatureOf(auth, req)
      const timestamp = req.headers[auth.timestampHeader]
      if (!timestamp) throw refuse(`the ${auth.timestampHeader} timestamp header is missing (Unix seconds, signed with the body)`)
      checkAge(timestamp, now)
      const expected = createHmac('sha256', auth.secret).update(`${timestamp}.`).update(req.rawBody).digest(auth.encoding)
      if (!same(given, expected)) throw refuse(`the ${auth.header} signature does not match "<${auth.timestampHeader}>.<body>"`)
      return
    }
    case 'ed25519': {
      const signature = req.headers['x-signature-ed25519']
      const timestamp = req.headers['x-signature-timestamp']
      if (!signature || !timestamp) throw refuse('the x-signature-ed25519 and x-signature-timestamp headers are required')
      checkAge(timestamp, now)
      const ok = /^[0-9a-f]{128}$/i.test(signature) && verify(null, Buffer.concat([Buffer.from(timestamp), req.rawBody]), auth.key, Buffer.from(signature, 'hex'))
      if (!ok) throw refuse('the ed25519 signature does not verify')
      return
    }
    case 'evolution-apikey': {
      // Evolution puts the instance's API key in the body; a proxy may move it to a header
      const fromBody = (req.parseBody() as { apikey?: unknown } | undefined)?.apikey
      const given = typeof fromBody === 'string' ? fromBody : req.headers[auth.header]
      if (!given) throw refuse(`no apikey in the body or the ${auth.header} header`)
      if (!same(given, auth.secret)) throw refuse("the apikey does not match the source's secret")
      return
    }
  }
}

/** The signature header's value without a GitHub-style `sha256=` prefix; hex is case-insensitive, base64 is not. */
function signatureOf(auth: { readonly header: string; readonly encoding: 'hex' | 'base64' }, req: SignedRequest): string {
  const prefixed = req.headers[auth.header]?.replace(/^sha256=/, '')
  const given = auth.encoding === 'hex' ? prefixed?.toLowerCase() : prefixed
  if (!given) throw refuse(`the ${auth.header} signature header is missing`)
  return given
}

/** Refuses a signed timestamp (Unix seconds) further from now than MAX_SIGNATURE_AGE_S. */
function checkAge(timestamp: string, now: number): void {
  const age = now / 1000 - Number(timestamp)
  if (!Number.isFinite(age) || Math.abs(age) > MAX_SIGNATURE_AGE_S) throw refuse(`the signature timestamp is more than ${MAX_SIGNATURE_AGE_S} s from now (or not Unix seconds)`)
}
