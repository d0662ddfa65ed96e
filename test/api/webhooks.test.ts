import { createHash, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import type { ApiSettings } from '../../src/api/options.ts'
import { EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { MAX_EVENTS_PER_REQUEST } from '../../src/ingest/publish.ts'
import { bearer, startTestApi, type TestApi } from '../fixtures/api.ts'
import { readSubject, storedOn } from '../fixtures/fabric.ts'
import { postLookalike } from '../fixtures/lookalike.ts'

t.setTimeout(180_000)

// secrets the webhook sources name by environment variable (compiled when the fabric loads them)
const EVOLUTION_KEY = 'evo-apikey-0123456789abcdef'
const SHOP_SECRET = 'shop-hmac-secret-0123456789'
const discord = generateKeyPairSync('ed25519')
const discordPublicHex = Buffer.from(discord.publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString('hex')
process.env['OMNI_TEST_EVOLUTION_KEY'] = EVOLUTION_KEY
process.env['OMNI_TEST_DISCORD_KEY'] = discordPublicHex
process.env['OMNI_TEST_SHOP_SECRET'] = SHOP_SECRET
const RELAY_SECRET = 'relay-shared-secret-0123456789'
process.env['OMNI_TEST_RELAY_SECRET'] = RELAY_SECRET

const MESSAGING = await readFile(new URL('../../manifests/catalog/messaging.yaml', import.meta.url), 'utf8')

const SOURCES: Record<string, string> = {
  'catalog/messaging.yaml': MESSAGING,
  'webhooks/evolution.yaml': `kind: WebhookSource
name: evolution
adapter: evolution
tenant: acme
instances: [phone-1]
auth: { type: evolution-apikey, secretEnv: OMNI_TEST_EVOLUTION_KEY }
`,
  'webhooks/evo-relay.yaml': `kind: WebhookSource
name: evo-relay
adapter: evolution
auth: { type: shared-secret, header: X-Auth-Key, secretEnv: OMNI_TEST_RELAY_SECRET }
`,
  'webhooks/evo-open.yaml': `kind: WebhookSource
name: evo-open
adapter: evolution
`,
  'webhooks/discord.yaml': `kind: WebhookSource
name: discord
adapter: discord
instances: [bot-1]
auth: { type: ed25519, secretEnv: OMNI_TEST_DISCORD_KEY }
`,
  'webhooks/shop.yaml': `kind: WebhookSource
name: shop
adapter: generic
instances: [store-1]
auth: { type: hmac-sha256, secretEnv: OMNI_TEST_SHOP_SECRET }
mapping:
  type: topic
  items: events
  events:
    chat.message:
      type: message.received
      data:
        providerMessageId: id
        text: body
        kind: { const: text }
        fromSelf: { const: false }
        forwarded: { const: false }
      actor: from
      conversation: $.room
      time: at
`,
}

// a provider that signs a timestamp with the body: a replay is refused once the timestamp is stale
SOURCES['webhooks/stamped.yaml'] = `kind: WebhookSource
name: stamped
adapter: generic
instances: [any-1]
auth: { type: hmac-sha256-timestamped, secretEnv: OMNI_TEST_SHOP_SECRET }
mapping: { type: topic, events: {} }
`

const RECEIVED = 'omni.evt.ingest.message-received.v1'
const UNKNOWN = 'omni.evt.ingest.provider-unknown.v1'
const INTERACTION = 'omni.evt.ingest.interaction-received.v1'

const start = (t: Test, api: ApiSettings = {}) => startTestApi(t, { api: { bodyLimit: 16 * 1024, ...api }, fabric: { files: SOURCES } })

/** An Evolution messages.upsert delivery for one WhatsApp text message. */
function upsert(id: string, extra: Record<string, unknown> = {}) {
  return {
    event: 'messages.upsert',
    instance: 'phone-1',
    data: {
      key: { remoteJid: '4915550100@s.whatsapp.net', fromMe: false, id },
      pushName: 'Ana',
      message: { conversation: `hello ${id}` },
      messageType: 'conversation',
      messageTimestamp: 1_795_000_000,
    },
    date_time: '2026-11-22T10:00:00.000Z',
    sender: '4915550199@s.whatsapp.net',
    server_url: 'http://evolution.internal:8080',
    apikey: EVOLUTION_KEY,
    ...extra,
  }
}

const rawCount = async (api: TestApi) => (await api.fabric.jsm.streams.info(RAW_STREAM)).state.messages
const eventCount = async (api: TestApi) => (await api.fabric.jsm.streams.info(EVENTS_STREAM)).state.messages

/** The archived row at a raw stream sequence, and when the stream stored it. */
async function rawAt(api: TestApi, seq: number) {
  const m = await api.fabric.jsm.streams.getMessage(RAW_STREAM, { seq })
  if (!m) throw new Error(`no raw message at ${seq}`)
  return { row: m.json<{ raw_id: string; provider: string; instance: string; tenant: string; content_type: string; headers: Record<string, string>; body: string; sha256: string; size: number }>(), time: m.time, subject: m.subject }
}

/** The newest raw row (what the last delivery archived). */
async function lastRaw(api: TestApi) {
  const info = await api.fabric.jsm.streams.info(RAW_STREAM)
  return rawAt(api, info.state.last_seq)
}

const post = (api: TestApi, url: string, payload: string | object, headers: Record<string, string> = {}) =>
  api.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })

t.test('evolution messages.upsert over a real socket: archived raw first, then one message.received whose dataref points at the archive', async (t) => {
  const api = await start(t)
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const address = api.app.server.address()
  if (!address || typeof address === 'string') throw new Error('not listening')
  // the exact bytes, spacing included, are what the archive must keep
  const text = JSON.stringify(upsert('3EB0A1'), null, 2)
  const res = await fetch(`http://127.0.0.1:${address.port}/v1/webhooks/evolution/phone-1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
  const body = (await res.json()) as { raw: { dataref: string; seq: number; duplicate: boolean }; events: { type: string; subject: string; seq: number; duplicate: boolean }[]; refused: unknown[] }
  t.equal(res.status, 202, JSON.stringify(body))
  t.match(body.raw, { dataref: /^raw:/, duplicate: false })
  t.match(body.events, [{ type: 'message.received', subject: RECEIVED, duplicate: false }])
  t.same(body.refused, [])

  const raw = await rawAt(api, body.raw.seq)
  t.equal(`raw:${raw.row.raw_id}`, body.raw.dataref, 'the answer names the archived row')
  t.equal(raw.row.body, text.replace(EVOLUTION_KEY, '[redacted]'), 'the body is archived byte for byte, but for the instance apikey')
  t.notMatch(raw.row.body, EVOLUTION_KEY, 'the apikey that drives the WhatsApp account is not archived')
  t.equal(raw.row.sha256, createHash('sha256').update(text).digest('hex'), 'the digest is of the bytes received')
  t.equal(raw.row.size, Buffer.byteLength(text))
  t.equal(raw.subject, 'omni.raw.evolution.phone-1')
  t.match(raw.row, { provider: 'evolution', instance: 'phone-1', tenant: 'acme', content_type: 'application/json' })

  const [event] = await readSubject(api.fabric, RECEIVED)
  t.match(event, {
    type: 'message.received',
    source: 'omni://webhooks/evolution/phone-1',
    provider: 'evolution',
    instance: 'phone-1',
    tenant: 'acme',
    dataref: body.raw.dataref,
    actor: '4915550100@s.whatsapp.net',
    conversation: '4915550100@s.whatsapp.net',
    time: new Date(1_795_000_000 * 1000).toISOString(),
    data: { kind: 'text', text: 'hello 3EB0A1', providerMessageId: '3EB0A1', fromSelf: false, forwarded: false, _provider: { event: 'messages.upsert', pushName: 'Ana' } },
  })
  t.notOk(JSON.stringify(event).includes('whatsapp_message_id'), 'provider-neutral names only')
  // the archive was written before the event: its stream timestamp is not later
  const stored = await api.fabric.jsm.streams.getMessage(EVENTS_STREAM, { seq: body.events[0]?.seq ?? 0 })
  t.ok(stored && Date.parse(raw.time.toISOString()) <= Date.parse(stored.time.toISOString()), 'archived before the event was published')
})

t.test('a provider retry is answered 200, archives nothing new and publishes nothing new; another envelope for the same message still dedups on its id', async (t) => {
  const api = await start(t)
  const first = await post(api, '/v1/webhooks/evolution/phone-1', upsert('3EB0B2'))
  t.equal(first.statusCode, 202, first.body)
  const [raws, events] = [await rawCount(api), await eventCount(api)]

  const retry = await post(api, '/v1/webhooks/evolution/phone-1', upsert('3EB0B2'))
  t.equal(retry.statusCode, 200, retry.body)
  t.match(retry.json(), { raw: { duplicate: true, seq: first.json().raw.seq, dataref: first.json().raw.dataref } })
  t.ok(retry.json().events.length > 0 && retry.json().events.every((e: { duplicate: boolean }) => e.duplicate), 'every event is a duplicate')
  t.equal(await rawCount(api), raws, 'nothing new in the raw archive')
  t.equal(await eventCount(api), events, 'nothing new in the events stream')

  // Evolution re-sends with a new date_time: a different body (archived: it is what arrived), the same message
  const resent = await post(api, '/v1/webhooks/evolution/phone-1', upsert('3EB0B2', { date_time: '2026-11-22T10:00:07.000Z' }))
  t.equal(resent.json().raw.duplicate, false, 'a different body is a new archive entry')
  t.equal(resent.statusCode, 202, 'something new (the raw body) was stored')
  t.match(resent.json().events, [{ type: 'message.received', duplicate: true, seq: first.json().events[0].seq }])
  t.equal(await eventCount(api), events, 'no second message.received')
  t.equal(await storedOn(api.fabric.jsm, RECEIVED), 1)

  // the same message id on another instance or another source is another message
  const other = await post(api, '/v1/webhooks/evo-open/phone-2', upsert('3EB0B2'), bearer('ingest'))
  t.equal(other.statusCode, 202, other.body)
  t.equal(other.json().events[0].duplicate, false)
  t.equal(await storedOn(api.fabric.jsm, RECEIVED), 2)
})

t.test("a client cannot pre-empt a webhook's event by posting its key first (issue 12, section 1)", async (t) => {
  const api = await start(t)
  // the attacker learns how the source derives keys from a delivery it can see...
  const seen = await post(api, '/v1/webhooks/evolution/phone-1', upsert('3EBSEEN'))
  t.equal(seen.statusCode, 202, seen.body)
  const seenKey: string = seen.json().events[0].idempotencykey
  t.match(seenKey, /3EBSEEN/, 'the key is derived from the provider message id')
  // ...and posts the key the next message will get, with the ingest scope and the same tenant
  const forged = await postLookalike(api, { id: 'forged-1', key: seenKey.replace('3EBSEEN', '3EBNEXT'), providerMessageId: '3EBNEXT' })
  t.equal(forged.statusCode, 202, forged.body)
  const real = await post(api, '/v1/webhooks/evolution/phone-1', upsert('3EBNEXT'))
  t.equal(real.statusCode, 202, real.body)
  t.equal(real.json().events[0].duplicate, false, "the real delivery is stored, not dropped as the client's duplicate")
  const texts = (await readSubject(api.fabric, RECEIVED)).map((e) => (e['data'] as { text: string }).text)
  t.ok(texts.includes('hello 3EBNEXT'), 'the real message is in the stream')
})

t.test('an event type the adapter does not know is archived and ingested as provider.unknown, never dropped', async (t) => {
  const api = await start(t)
  const delivery = { event: 'TYPEBOT_START', instance: 'phone-1', data: { remoteJid: '4915550100@s.whatsapp.net', url: 'https://typebot.example' }, date_time: '2026-11-22T10:00:00.000Z', apikey: EVOLUTION_KEY }
  const res = await post(api, '/v1/webhooks/evolution/phone-1', delivery)
  t.equal(res.statusCode, 202, res.body)
  t.match(res.json().events, [{ type: 'provider.unknown', subject: UNKNOWN, duplicate: false }])
  const [event] = await readSubject(api.fabric, UNKNOWN)
  t.match(event, { type: 'provider.unknown', dataref: res.json().raw.dataref, data: { providerType: 'typebot.start', payload: delivery.data } })
  t.equal((await lastRaw(api)).row.body, JSON.stringify({ ...delivery, apikey: '[redacted]' }), 'archived as sent, but for the apikey')
  // retried with another date_time: the payload's digest is the same, so is the event
  const again = await post(api, '/v1/webhooks/evolution/phone-1', { ...delivery, date_time: '2026-11-22T10:00:09.000Z' })
  t.equal(again.json().events[0].duplicate, true, again.body)
  t.equal(await storedOn(api.fabric.jsm, UNKNOWN), 1)
})

t.test('an adapted event the catalog refuses is kept as provider.unknown with the problems, and a retry of it dedups too', async (t) => {
  const api = await start(t)
  const longId = 'X'.repeat(300) // message.received allows providerMessageId up to 256 characters
  const res = await post(api, '/v1/webhooks/evolution/phone-1', upsert(longId))
  t.equal(res.statusCode, 202, res.body)
  t.match(res.json().refused, [{ type: 'message.received', problems: [{ where: '$.data.providerMessageId' }] }])
  t.match(res.json().events, [{ type: 'provider.unknown', duplicate: false }])
  const [event] = await readSubject(api.fabric, UNKNOWN)
  t.match(event, { data: { providerType: 'messages.upsert', payload: { providerMessageId: longId }, _provider: { refusedAs: 'message.received' } }, dataref: res.json().raw.dataref })
  t.equal(await storedOn(api.fabric.jsm, RECEIVED), 0)
  // the provider re-sends it in a new envelope: a new archive entry, the same event
  const resent = await post(api, '/v1/webhooks/evolution/phone-1', upsert(longId, { date_time: '2026-11-22T10:00:07.000Z' }))
  t.equal(resent.json().raw.duplicate, false)
  t.match(resent.json().events, [{ type: 'provider.unknown', duplicate: true }], resent.body)
  t.equal(await storedOn(api.fabric.jsm, UNKNOWN), 1)
})

t.test('malformed bodies: a clear error with a JSON path; the raw body is archived all the same, since the route archives before parsing', async (t) => {
  const api = await start(t, { bodyLimit: 4096 })
  const url = '/v1/webhooks/evolution/phone-1'
  // the body cannot carry the apikey when it is not JSON, so the header does (as behind a proxy)
  const auth = { apikey: EVOLUTION_KEY }
  const invalidUtf8 = Buffer.concat([Buffer.from('{"event":"messages.upsert","data":{"key":{"id":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}}')])
  const cases: { name: string; payload: string | Buffer; type?: string; status: number; code: string; where: string; message?: RegExp; archived: boolean }[] = [
    { name: 'not JSON', payload: '{"event": ', status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$', message: /JSON/, archived: true },
    { name: 'empty', payload: '', status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$', message: /empty/, archived: true },
    { name: 'a JSON array', payload: JSON.stringify([upsert('arr')]), status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$', message: /object/, archived: true },
    { name: 'no event name', payload: JSON.stringify({ data: {} }), status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$.event', archived: true },
    { name: 'a message without its key', payload: JSON.stringify({ event: 'messages.upsert', data: { message: { conversation: 'hi' } } }), status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$.data.key', archived: true },
    { name: 'prototype pollution', payload: '{"event":"messages.upsert","__proto__":{"polluted":true},"data":{}}', status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$', message: /prototype/, archived: true },
    { name: 'constructor.prototype', payload: '{"event":"messages.upsert","constructor":{"prototype":{"polluted":true}}}', status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$', archived: true },
    { name: 'a form body', payload: 'event=messages.upsert&data=x', type: 'application/x-www-form-urlencoded', status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$', message: /application\/x-www-form-urlencoded/, archived: true },
    { name: 'invalid UTF-8', payload: invalidUtf8, status: 400, code: 'OMNI_ERR_WEBHOOK_INVALID', where: '$.data.key.id', message: /UTF-8/, archived: true },
    { name: 'over the body limit', payload: JSON.stringify(upsert('big', { data: { key: { id: 'big' }, message: { conversation: 'x'.repeat(8192) } } })), status: 413, code: 'OMNI_ERR_BODY_TOO_LARGE', where: '', archived: false },
  ]
  for (const c of cases) {
    const before = await rawCount(api)
    const events = await eventCount(api)
    const res = await api.app.inject({ method: 'POST', url, headers: { 'content-type': c.type ?? 'application/json', ...auth }, payload: c.payload })
    t.equal(res.statusCode, c.status, `${c.name}: status (${res.body})`)
    const err = res.json().error
    t.equal(err?.code, c.code, `${c.name}: code`)
    if (c.where) t.equal(err.problems[0]?.where, c.where, `${c.name}: path (${JSON.stringify(err.problems)})`)
    if (c.message) t.match(`${err.message} ${err.problems.map((p: { message: string }) => p.message).join(' ')}`, c.message, `${c.name}: says what is wrong`)
    t.equal(await rawCount(api), before + (c.archived ? 1 : 0), `${c.name}: ${c.archived ? 'archived' : 'not archived (the route never received it)'}`)
    if (c.archived) {
      const raw = await lastRaw(api)
      t.equal(raw.row.sha256.length, 64)
      if (typeof c.payload === 'string') t.equal(raw.row.body, c.payload.replaceAll(EVOLUTION_KEY, '[redacted]'), `${c.name}: the archived body is what was sent, but for the source's secret`)
      t.ok(err.message.includes(`raw:${raw.row.raw_id}`), `${c.name}: the error names the archive entry`)
      t.equal(raw.row.headers['apikey'], '[redacted]', `${c.name}: the credential header is not archived`)
    }
    t.equal(await eventCount(api), events, `${c.name}: no event published`)
  }
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype is untouched')
  // the content type is not trusted either way: a JSON body declared as text/plain is read as JSON
  const plain = await api.app.inject({ method: 'POST', url, headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(upsert('plain')) })
  t.equal(plain.statusCode, 202, plain.body)
  t.equal((await lastRaw(api)).row.content_type, 'text/plain', 'the declared content type is archived as sent')
})

t.test('source auth comes before the archive: a refused delivery leaves nothing behind', async (t) => {
  const api = await start(t)
  const url = '/v1/webhooks/evolution/phone-1'
  const { apikey: _omit, ...withoutKey } = upsert('auth-1')
  const cases: [string, object | string, Record<string, string>][] = [
    ['no apikey', withoutKey, {}],
    ['a wrong apikey in the body', upsert('auth-1', { apikey: 'not-the-key-0123456789abc' }), {}],
    ['a wrong apikey in the header', withoutKey, { apikey: 'not-the-key-0123456789abc' }],
    ['a bearer token does not stand in for the source secret', withoutKey, bearer('admin')],
    ['a body that is not JSON and no header', 'not json', {}],
  ]
  for (const [name, payload, headers] of cases) {
    const res = await post(api, url, payload, headers)
    t.equal(res.statusCode, 401, `${name}: ${res.body}`)
    t.equal(res.json().error.code, 'OMNI_ERR_WEBHOOK_AUTH', name)
    t.notOk(res.body.includes(EVOLUTION_KEY), `${name}: the answer never names the secret`)
  }
  t.equal(await rawCount(api), 0, 'nothing archived for refused deliveries')
  t.equal(await eventCount(api), 0, 'nothing published')
  const header = await post(api, url, withoutKey, { apikey: EVOLUTION_KEY })
  t.equal(header.statusCode, 202, `the apikey may come in a header: ${header.body}`)
  t.equal((await lastRaw(api)).row.headers['apikey'], '[redacted]')
})

t.test('a signature is checked before the body is parsed: a hostile unsigned body is a 401, not a parser crash', async (t) => {
  const api = await start(t, { bodyLimit: 1024 * 1024 })
  // 400 KB of nesting with an invalid UTF-8 byte inside: walking it to name the bad byte's path
  // overflowed the stack (a 500) when the body was parsed before the signature was checked
  const depth = 200_000
  const hostile = Buffer.concat([Buffer.from(`${'['.repeat(depth)}"`), Buffer.from([0xff]), Buffer.from(`"${']'.repeat(depth)}`)])
  const res = await api.app.inject({ method: 'POST', url: '/v1/webhooks/shop/store-1', headers: { 'content-type': 'application/json', 'x-omni-signature': 'ab'.repeat(32) }, payload: hostile })
  t.equal(res.statusCode, 401, res.body.slice(0, 300))
  t.equal(res.json().error.code, 'OMNI_ERR_WEBHOOK_AUTH')
  t.equal(await rawCount(api), 0, 'nothing archived')
  // signed, the same body is archived and refused with a clear 400 (its path cannot be walked: $)
  const signed = await api.app.inject({ method: 'POST', url: '/v1/webhooks/shop/store-1', headers: { 'content-type': 'application/json', 'x-omni-signature': createHmac('sha256', SHOP_SECRET).update(hostile).digest('hex') }, payload: hostile })
  t.equal(signed.statusCode, 400, signed.body.slice(0, 300))
  t.match(signed.json(), { error: { code: 'OMNI_ERR_WEBHOOK_INVALID', problems: [{ where: '$' }] } })
})

t.test('hmac-sha256-timestamped: a signed, fresh delivery is stored; the same delivery replayed after the tolerance is refused', async (t) => {
  const api = await start(t)
  const body = JSON.stringify({ topic: 'order.paid', id: 'o-7' })
  const sign = (ts: number) => ({ 'x-omni-timestamp': String(ts), 'x-omni-signature': createHmac('sha256', SHOP_SECRET).update(`${ts}.${body}`).digest('hex') })
  const now = Math.floor(Date.now() / 1000)
  const fresh = await post(api, '/v1/webhooks/stamped/any-1', body, sign(now))
  t.equal(fresh.statusCode, 202, fresh.body)
  const stale = await post(api, '/v1/webhooks/stamped/any-1', body, sign(now - 301))
  t.equal(stale.statusCode, 401, stale.body)
  t.match(stale.json().error.message, /more than 300 s from now/)
  const unsigned = await post(api, '/v1/webhooks/stamped/any-1', body, { 'x-omni-signature': createHmac('sha256', SHOP_SECRET).update(body).digest('hex') })
  t.equal(unsigned.statusCode, 401, 'the body alone signed is not enough: the timestamp must be signed with it')
})

t.test('hmac-sha256-timestamped: a signed delivery replayed inside the tolerance to another instance is no new delivery (the signature does not cover the URL)', async (t) => {
  const api = await start(t)
  const body = JSON.stringify({ topic: 'order.paid', id: 'o-8' })
  const now = Math.floor(Date.now() / 1000)
  const headers = { 'x-omni-timestamp': String(now), 'x-omni-signature': createHmac('sha256', SHOP_SECRET).update(`${now}.${body}`).digest('hex') }
  const fresh = await post(api, '/v1/webhooks/stamped/any-1', body, headers)
  t.equal(fresh.statusCode, 202, fresh.body)
  const [raws, events] = [await rawCount(api), await eventCount(api)]
  // a captured delivery, sent again at once under another instance name: the same bytes, still signed
  const replayed = await post(api, '/v1/webhooks/stamped/any-2', body, headers)
  t.equal(replayed.statusCode, 404, replayed.body)
  t.equal(await rawCount(api), raws, 'nothing new archived')
  t.equal(await eventCount(api), events, 'no second event')
})

t.test('credentials never reach the archive: a custom auth header, the secret echoed in the body, Evolution\'s apikey', async (t) => {
  const api = await start(t)
  const body = { ...upsert('relay-1'), apikey: 'instance-apikey-0123456789', note: RELAY_SECRET }
  const res = await post(api, '/v1/webhooks/evo-relay/phone-9', body, { 'x-auth-key': RELAY_SECRET })
  t.equal(res.statusCode, 202, res.body)
  const raw = await lastRaw(api)
  t.equal(raw.row.headers['x-auth-key'], '[redacted]', 'the header the source authenticates with is masked, whatever its name')
  t.notMatch(raw.row.body, RELAY_SECRET, 'the source secret is masked where the body repeats it')
  t.notMatch(raw.row.body, 'instance-apikey-0123456789', 'the Evolution apikey is masked')
  t.match(raw.row.body, /"key":\{"remoteJid"/, 'the rest of the body is kept as sent')
  const again = await post(api, '/v1/webhooks/evo-relay/phone-9', body, { 'x-auth-key': RELAY_SECRET })
  t.match(again.json(), { raw: { duplicate: true } }, 'a retry still dedups on the digest of the bytes received')
})

t.test('a source without auth needs a bearer token with the ingest scope', async (t) => {
  const api = await start(t)
  const url = '/v1/webhooks/evo-open/any-phone'
  const none = await post(api, url, upsert('open-1'))
  t.equal(none.statusCode, 401)
  t.equal(none.json().error.code, 'OMNI_ERR_UNAUTHORIZED')
  const wrong = await post(api, url, upsert('open-1'), { authorization: 'Bearer not-a-token-0123456789abcdef' })
  t.equal(wrong.statusCode, 401)
  const read = await post(api, url, upsert('open-1'), bearer('read'))
  t.equal(read.statusCode, 403)
  t.equal(read.json().error.code, 'OMNI_ERR_FORBIDDEN')
  t.equal(await rawCount(api), 0, 'nothing archived for refused deliveries')
  const ok = await post(api, url, upsert('open-1'), bearer('ingest'))
  t.equal(ok.statusCode, 202, ok.body)
  const admin = await post(api, url, upsert('open-2'), bearer('admin'))
  t.equal(admin.statusCode, 202, 'admin includes ingest')
  t.equal(await storedOn(api.fabric.jsm, RECEIVED), 2)
})

t.test('an unknown provider, or an instance the source does not list, is 404 OMNI_ERR_WEBHOOK_UNKNOWN_SOURCE and archives nothing', async (t) => {
  const api = await start(t)
  for (const url of ['/v1/webhooks/nope/phone-1', '/v1/webhooks/evolution/phone-2', '/v1/webhooks/discord/phone-1']) {
    const res = await post(api, url, upsert('u1'), bearer('admin'))
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().error.code, 'OMNI_ERR_WEBHOOK_UNKNOWN_SOURCE', url)
  }
  const badName = await post(api, '/v1/webhooks/Not%20A%20Name/phone-1', upsert('u1'), bearer('admin'))
  t.equal(badName.statusCode, 400)
  t.match(badName.json().error, { code: 'OMNI_ERR_BODY_INVALID', problems: [{ where: 'params.provider' }] })
  t.equal(await rawCount(api), 0)
})

/** Discord's request signing: ed25519 over timestamp + body, with the application's key. */
function signed(body: string, key: KeyObject = discord.privateKey, timestamp = String(Math.floor(Date.now() / 1000))) {
  return { 'x-signature-ed25519': sign(null, Buffer.concat([Buffer.from(timestamp), Buffer.from(body)]), key).toString('hex'), 'x-signature-timestamp': timestamp }
}

t.test('discord: a PING over a real socket is answered {type:1} after its ed25519 signature verifies; bad signatures are refused', async (t) => {
  const api = await start(t)
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const address = api.app.server.address()
  if (!address || typeof address === 'string') throw new Error('not listening')
  const url = `http://127.0.0.1:${address.port}/v1/webhooks/discord/bot-1`
  const ping = JSON.stringify({ id: '1180000000000000001', type: 1, application_id: '1170000000000000000', token: 'interaction-token', version: 1 })
  const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signed(ping) }, body: ping })
  t.equal(ok.status, 200)
  t.same(await ok.json(), { type: 1 })
  t.equal(await eventCount(api), 0, 'a PING is no event')

  const other = generateKeyPairSync('ed25519').privateKey
  const refusals: [string, Record<string, string>][] = [
    ['no signature', {}],
    ['signed by another key', signed(ping, other)],
    ['a signature of another body', signed(ping.replace('"type":1', '"type":1 '))],
    ['a stale timestamp (replay)', signed(ping, discord.privateKey, String(Math.floor(Date.now() / 1000) - 3600))],
    ['a signature that is not hex', { 'x-signature-ed25519': 'zz', 'x-signature-timestamp': String(Math.floor(Date.now() / 1000)) }],
  ]
  const raws = await rawCount(api)
  for (const [name, headers] of refusals) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: ping })
    t.equal(res.status, 401, name)
    t.equal(((await res.json()) as { error: { code: string } }).error.code, 'OMNI_ERR_WEBHOOK_AUTH', name)
  }
  t.equal(await rawCount(api), raws, 'refused deliveries are not archived')
})

t.test('discord: a slash command is stored as interaction.received and deferred with {type:5}; a retry stores nothing new', async (t) => {
  const api = await start(t)
  const command = JSON.stringify({
    id: '1180000000000000002',
    type: 2,
    application_id: '1170000000000000000',
    token: 'interaction-token',
    channel_id: '1160000000000000000',
    guild_id: '1150000000000000000',
    member: { user: { id: '1140000000000000000', username: 'ana' } },
    data: { id: '1130000000000000000', name: 'ask', type: 1, options: [{ name: 'question', type: 3, value: 'what is new?' }] },
    version: 1,
  })
  const res = await post(api, '/v1/webhooks/discord/bot-1', command, signed(command))
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json(), { type: 5 })
  const [event] = await readSubject(api.fabric, INTERACTION)
  t.match(event, {
    type: 'interaction.received',
    provider: 'discord',
    instance: 'bot-1',
    actor: '1140000000000000000',
    conversation: '1160000000000000000',
    dataref: /^raw:/,
    data: { interactionId: '1180000000000000002', kind: 'command', name: 'ask', options: { question: 'what is new?' }, _provider: { event: 'INTERACTION_CREATE' } },
  })
  const events = await eventCount(api)
  const retry = await post(api, '/v1/webhooks/discord/bot-1', command, signed(command))
  t.same(retry.json(), { type: 5 })
  t.equal(await eventCount(api), events, 'the retry stored nothing new')
  t.equal(await storedOn(api.fabric.jsm, INTERACTION), 1)
})

t.test('discord: a full MESSAGE_UPDATE gateway dispatch (the whole message, member and all) is stored as message.edited', async (t) => {
  const api = await start(t)
  const body = await readFile(new URL('../fixtures/webhooks/discord/gateway-message-update.json', import.meta.url), 'utf8')
  const res = await post(api, '/v1/webhooks/discord/bot-1', body, signed(body))
  t.equal(res.statusCode, 202, res.body)
  t.same((res.json() as { refused: unknown[] }).refused, [], 'the catalog took it as adapted, not as provider.unknown')
  t.same(await readSubject(api.fabric, 'omni.evt.ingest.provider-unknown.v1'), [], 'nothing became provider.unknown')
  const [edited] = await readSubject(api.fabric, 'omni.evt.ingest.message-edited.v1')
  t.match(edited, {
    type: 'message.edited',
    provider: 'discord',
    instance: 'bot-1',
    actor: '80351110224678912',
    conversation: '1098765432109876549',
    time: '2025-09-26T01:58:02.117Z',
    data: { providerMessageId: '1290600000000000001:edit:2025-09-26T01:58:02.117000+00:00', targetMessageId: '1290600000000000001', text: 'Can someone review the contract by Friday?', fromSelf: false, _provider: { event: 'MESSAGE_UPDATE' } },
  })
})

t.test('generic: a YAML mapping turns any JSON provider into catalog events, signed with HMAC over a real socket', async (t) => {
  const api = await start(t)
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const address = api.app.server.address()
  if (!address || typeof address === 'string') throw new Error('not listening')
  const url = `http://127.0.0.1:${address.port}/v1/webhooks/shop/store-1`
  const body = JSON.stringify({
    room: 'support-7',
    events: [
      { topic: 'chat.message', id: 'm-1', body: 'where is my order?', from: 'customer-9', at: '2026-11-22T11:00:00+01:00' },
      { topic: 'order.paid', id: 'o-1', total: 42 },
    ],
  })
  const signature = createHmac('sha256', SHOP_SECRET).update(body).digest('hex')
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-omni-signature': `sha256=${signature}` }, body })
  const answer = (await res.json()) as { events: { type: string }[] }
  t.equal(res.status, 202, JSON.stringify(answer))
  t.same(answer.events.map((e) => e.type), ['message.received', 'provider.unknown'], 'one event per item; the unmapped topic is kept')
  const [message] = await readSubject(api.fabric, RECEIVED)
  t.match(message, { actor: 'customer-9', conversation: 'support-7', time: '2026-11-22T10:00:00.000Z', data: { providerMessageId: 'm-1', text: 'where is my order?', kind: 'text', fromSelf: false, forwarded: false } })
  const [unknown] = await readSubject(api.fabric, UNKNOWN)
  t.match(unknown, { data: { providerType: 'order.paid', payload: { id: 'o-1', total: 42 } } })
  const forged = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-omni-signature': `sha256=${signature}` }, body: body.replace('42', '4200') })
  t.equal(forged.status, 401, 'a changed body does not match its signature')
  const notList = JSON.stringify({ room: 'x', events: 'nope' })
  const bad = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-omni-signature': createHmac('sha256', SHOP_SECRET).update(notList).digest('hex') }, body: notList })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { error: { code: 'OMNI_ERR_WEBHOOK_INVALID', problems: [{ where: '$.events', message: 'must be an array' }] } })
})

t.test('a delivery a generic mapping splits into more events than one request may carry is refused, and stays archived', async (t) => {
  const api = await start(t, { bodyLimit: 1024 * 1024 })
  const body = JSON.stringify({ room: 'r', events: Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, (_, i) => ({ topic: 'order.paid', id: `o-${i}` })) })
  const signature = createHmac('sha256', SHOP_SECRET).update(body).digest('hex')
  const res = await api.app.inject({ method: 'POST', url: '/v1/webhooks/shop/store-1', headers: { 'content-type': 'application/json', 'x-omni-signature': signature }, payload: body })
  t.equal(res.statusCode, 413, res.body)
  t.match(res.json(), { error: { code: 'OMNI_ERR_BODY_TOO_LARGE', message: new RegExp(`holds ${MAX_EVENTS_PER_REQUEST + 1} events; at most ${MAX_EVENTS_PER_REQUEST}`) } })
  t.match(res.json().error.message, /raw:/, 'the answer names the archive entry that keeps the delivery')
  t.equal(await storedOn(api.fabric.jsm, UNKNOWN), 0, 'no event of it was published')
})
