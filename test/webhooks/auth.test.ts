import { createHmac, generateKeyPairSync, sign } from 'node:crypto'
import t, { type Test } from 'tap'
import { isOmniError } from '../../src/errors/mod.ts'
import { ed25519Key, verifyWebhook, type CompiledWebhookAuth, type SignedRequest } from '../../src/webhooks/auth.ts'

// Each auth type accepts the right credential and refuses a missing or wrong one with
// OMNI_ERR_WEBHOOK_AUTH, in a message that never contains the secret.

const SECRET = 's3cr3t-Wb7xQ2pL9vK4mN8r'
const raw = Buffer.from('{"event":"messages.upsert","data":{"key":{"id":"3A7B12F4C9D0E8A61B22"}}}')
const req = (headers: Record<string, string>, rawBody = raw, body: unknown = JSON.parse(rawBody.toString())): SignedRequest => ({ headers, rawBody, parseBody: () => body })

/** Asserts the check refuses with OMNI_ERR_WEBHOOK_AUTH, without naming `secrets`; returns the message. */
function refused(t: Test, fn: () => void, secrets: readonly string[] = [SECRET]): string {
  try {
    fn()
  } catch (err) {
    t.ok(isOmniError(err), 'an OmniError')
    t.equal((err as { code?: string }).code, 'OMNI_ERR_WEBHOOK_AUTH')
    t.equal((err as { status?: number }).status, 401)
    const message = (err as Error).message
    for (const s of secrets) t.notMatch(message, s, 'the message never contains the secret')
    return message
  }
  t.fail('expected OMNI_ERR_WEBHOOK_AUTH')
  return ''
}

t.test('shared-secret: the header must equal the secret', async (t) => {
  const auth: CompiledWebhookAuth = { type: 'shared-secret', header: 'x-omni-webhook-secret', secret: SECRET }
  t.doesNotThrow(() => verifyWebhook(auth, req({ 'x-omni-webhook-secret': SECRET })))
  t.match(refused(t, () => verifyWebhook(auth, req({}))), /x-omni-webhook-secret header is missing/)
  t.match(refused(t, () => verifyWebhook(auth, req({ 'x-omni-webhook-secret': `${SECRET}x` }))), /does not match/)
  refused(t, () => verifyWebhook(auth, req({ 'x-omni-webhook-secret': SECRET.slice(0, -1) })))
  refused(t, () => verifyWebhook(auth, req({ authorization: SECRET })), [SECRET])
})

t.test('hmac-sha256: a signature over the exact bytes', async (t) => {
  const hex: CompiledWebhookAuth = { type: 'hmac-sha256', header: 'x-omni-signature', encoding: 'hex', secret: SECRET }
  const signature = createHmac('sha256', SECRET).update(raw).digest('hex')
  t.doesNotThrow(() => verifyWebhook(hex, req({ 'x-omni-signature': signature })), 'bare hex')
  t.doesNotThrow(() => verifyWebhook(hex, req({ 'x-omni-signature': `sha256=${signature}` })), 'GitHub-style sha256= prefix')
  t.doesNotThrow(() => verifyWebhook(hex, req({ 'x-omni-signature': signature.toUpperCase() })), 'hex in upper case')
  t.match(refused(t, () => verifyWebhook(hex, req({}))), /signature header is missing/)
  // the same JSON, serialized again: other bytes, so the signature no longer holds
  const reserialized = Buffer.from(JSON.stringify(JSON.parse(raw.toString()), null, 1))
  t.not(reserialized.toString(), raw.toString())
  t.match(refused(t, () => verifyWebhook(hex, req({ 'x-omni-signature': signature }, reserialized))), /does not match the body/)
  const otherKey = createHmac('sha256', 'another-secret').update(raw).digest('hex')
  refused(t, () => verifyWebhook(hex, req({ 'x-omni-signature': otherKey })))

  const b64: CompiledWebhookAuth = { type: 'hmac-sha256', header: 'x-hub-signature', encoding: 'base64', secret: SECRET }
  const sig64 = createHmac('sha256', SECRET).update(raw).digest('base64')
  t.doesNotThrow(() => verifyWebhook(b64, req({ 'x-hub-signature': sig64 })), 'base64')
  refused(t, () => verifyWebhook(b64, req({ 'x-hub-signature': signature })), [SECRET])
})

t.test('ed25519 (Discord): a real key pair, the timestamp signed with the body, stale timestamps refused', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const publicHex = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString('hex')
  t.equal(publicHex.length, 64, 'the 64 hex characters Discord shows')
  const auth: CompiledWebhookAuth = { type: 'ed25519', key: ed25519Key(publicHex) }
  const now = Date.parse('2025-09-26T01:56:50Z')
  const signed = (timestamp: string, body = raw, key = privateKey) => ({ 'x-signature-ed25519': sign(null, Buffer.concat([Buffer.from(timestamp), body]), key).toString('hex'), 'x-signature-timestamp': timestamp })
  const ts = String(now / 1000)

  t.doesNotThrow(() => verifyWebhook(auth, req(signed(ts)), now))
  t.doesNotThrow(() => verifyWebhook(auth, req(signed(String(now / 1000 - 299))), now), 'within five minutes')
  t.match(refused(t, () => verifyWebhook(auth, req(signed(String(now / 1000 - 301))), now), [publicHex]), /more than 300 s from now/, 'stale, though correctly signed')
  refused(t, () => verifyWebhook(auth, req(signed(String(now / 1000 + 301))), now), [publicHex])
  t.match(refused(t, () => verifyWebhook(auth, req({}), now), [publicHex]), /headers are required/)
  t.match(refused(t, () => verifyWebhook(auth, req({ 'x-signature-timestamp': ts }), now), [publicHex]), /headers are required/)
  refused(t, () => verifyWebhook(auth, req({ ...signed(ts), 'x-signature-timestamp': 'yesterday' }), now), [publicHex])

  const tampered = Buffer.from(raw.toString().replace('3A7B', '3A7C'))
  t.match(refused(t, () => verifyWebhook(auth, req(signed(ts), tampered), now), [publicHex]), /does not verify/, 'a changed body')
  refused(t, () => verifyWebhook(auth, req({ ...signed(ts), 'x-signature-timestamp': String(now / 1000 - 1) }), now), [publicHex])
  const stranger = generateKeyPairSync('ed25519').privateKey
  refused(t, () => verifyWebhook(auth, req(signed(ts, raw, stranger)), now), [publicHex])
  refused(t, () => verifyWebhook(auth, req({ ...signed(ts), 'x-signature-ed25519': 'zz'.repeat(64) }), now), [publicHex])
})

t.test('evolution-apikey: the body apikey Evolution sends, or a header a proxy moved it to', async (t) => {
  const auth: CompiledWebhookAuth = { type: 'evolution-apikey', header: 'apikey', secret: SECRET }
  const withKey = (apikey: string) => Buffer.from(JSON.stringify({ event: 'messages.upsert', instance: 'omni-personal', data: {}, apikey }))
  t.doesNotThrow(() => verifyWebhook(auth, req({}, withKey(SECRET))), 'in the body')
  t.doesNotThrow(() => verifyWebhook(auth, req({ apikey: SECRET })), 'in the header')
  t.match(refused(t, () => verifyWebhook(auth, req({}))), /no apikey in the body or the apikey header/)
  t.match(refused(t, () => verifyWebhook(auth, req({}, withKey('B6D711FCDE4D4FD5936544120E713976')))), /apikey does not match/)
  refused(t, () => verifyWebhook(auth, req({ apikey: 'wrong' })))
  refused(t, () => verifyWebhook(auth, { headers: {}, rawBody: Buffer.from('not json'), parseBody: () => undefined }))
})

t.test('hmac-sha256-timestamped: the signature covers "<timestamp>.<body>", so a replay is refused once the timestamp is stale', async (t) => {
  const auth: CompiledWebhookAuth = { type: 'hmac-sha256-timestamped', header: 'x-omni-signature', timestampHeader: 'x-omni-timestamp', encoding: 'hex', secret: SECRET }
  const now = Date.parse('2026-12-07T04:00:00Z')
  const signed = (ts: string, body = raw, secret = SECRET) => ({ 'x-omni-signature': createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex'), 'x-omni-timestamp': ts })
  const ts = String(now / 1000)
  t.doesNotThrow(() => verifyWebhook(auth, req(signed(ts)), now))
  t.doesNotThrow(() => verifyWebhook(auth, req(signed(String(now / 1000 - 299))), now), 'a delivery retried within five minutes')
  t.match(refused(t, () => verifyWebhook(auth, req(signed(String(now / 1000 - 301))), now)), /more than 300 s from now/, 'a replay of a correctly signed delivery, too late')
  refused(t, () => verifyWebhook(auth, req(signed(String(now / 1000 + 301))), now))
  t.match(refused(t, () => verifyWebhook(auth, req({ 'x-omni-signature': signed(ts)['x-omni-signature'] }), now)), /x-omni-timestamp timestamp header is missing/)
  // a fresh timestamp on an old signature: the timestamp is part of what is signed
  t.match(refused(t, () => verifyWebhook(auth, req({ ...signed(String(now / 1000 - 400)), 'x-omni-timestamp': ts }), now)), /does not match "<x-omni-timestamp>.<body>"/)
  refused(t, () => verifyWebhook(auth, req(signed(ts), Buffer.from(raw.toString().replace('3A7B', '3A7C'))), now), [SECRET])
  refused(t, () => verifyWebhook(auth, req(signed(ts, raw, 'another-secret-0123456789')), now))
  // the plain HMAC of the body alone is not accepted in this mode
  refused(t, () => verifyWebhook(auth, req({ 'x-omni-signature': createHmac('sha256', SECRET).update(raw).digest('hex'), 'x-omni-timestamp': ts }), now))
})

t.test('signatures are checked on the raw bytes before anything parses the body; only evolution-apikey reads it', async (t) => {
  let parsed = 0
  const parseBody = () => {
    parsed++
    return undefined
  }
  const garbage = Buffer.from('[[[[ not json')
  const signedAuths: CompiledWebhookAuth[] = [
    { type: 'shared-secret', header: 'x-omni-webhook-secret', secret: SECRET },
    { type: 'hmac-sha256', header: 'x-omni-signature', encoding: 'hex', secret: SECRET },
    { type: 'hmac-sha256-timestamped', header: 'x-omni-signature', timestampHeader: 'x-omni-timestamp', encoding: 'hex', secret: SECRET },
    { type: 'ed25519', key: generateKeyPairSync('ed25519').publicKey },
  ]
  for (const auth of signedAuths) refused(t, () => verifyWebhook(auth, { headers: { 'x-omni-signature': 'ab', 'x-omni-timestamp': String(Math.floor(Date.now() / 1000)) }, rawBody: garbage, parseBody }))
  t.equal(parsed, 0, 'no signature check parsed the body')
})
