import { createHmac } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { resolveApiConfig } from '../../src/api/options.ts'
import { createQuotas } from '../../src/api/quota.ts'
import { RAW_STREAM } from '../../src/jetstream/topology.ts'
import { bearer, startTestApi, TEST_TOKENS } from '../fixtures/api.ts'
import { storedOn } from '../fixtures/fabric.ts'
import { TEST_SOURCE } from '../fixtures/manifests.ts'

// Per-token quotas on events and body bytes, beside the per-request rate limit: a token that
// sends few requests with large batches is bounded too.

t.setTimeout(120_000)

/** A day: windows are aligned on the clock, and a test must not straddle the start of one. */
const DAY_MS = 86_400_000

const note = (noteId: string) => ({ specversion: '1.0', id: `ce-${noteId}`, source: 'test://client', type: 'note.created', data: { noteId } })
const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => note(`${prefix}${i}`))
type App = Awaited<ReturnType<typeof startTestApi>>['app']
const post = (app: App, payload: unknown, headers: Record<string, string> = bearer('ingest')) =>
  app.inject({ method: 'POST', url: '/v1/events', headers: { ...headers, 'content-type': 'application/cloudevents-batch+json' }, payload: JSON.stringify(payload) })

t.test('events per window per token: 429 OMNI_ERR_QUOTA_EXCEEDED with Retry-After, nothing of the refused batch stored, other tokens unaffected', async (t) => {
  const { app, fabric } = await startTestApi(t, { api: { quotaEvents: 10, quotaWindowMs: DAY_MS } })
  t.equal((await post(app, batch('a', 6))).statusCode, 202)
  const over = await post(app, batch('b', 5))
  t.equal(over.statusCode, 429, over.body)
  t.match(over.json(), { error: { code: 'OMNI_ERR_QUOTA_EXCEEDED', message: /token "test-ingest" sent 6 of its 10 events per 86400 s; this request carries 5 more; nothing of it was stored/ } })
  const retryAfter = Number(over.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 86_400, `retry-after ${retryAfter}`)
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 6, 'the refused batch left nothing behind')
  t.equal((await post(app, batch('c', 4))).statusCode, 202, 'what still fits the window is taken')
  t.equal((await post(app, batch('d', 1))).statusCode, 429, 'and then nothing more')
  // another token has its own quota
  t.equal((await post(app, batch('e', 10), bearer('admin'))).statusCode, 202)
  // a request larger than the whole quota would never fit: no retry-after, a clear word instead
  const huge = await post(app, batch('f', 11), bearer('admin'))
  t.equal(huge.statusCode, 429)
  t.match(huge.json().error.message, /this request alone carries 11: split it/)
  t.equal(huge.headers['retry-after'], undefined)
})

t.test('body bytes per window per token', async (t) => {
  const { app, fabric } = await startTestApi(t, { api: { quotaBytes: 4096, quotaWindowMs: DAY_MS } })
  let accepted = 0
  let refused
  for (let i = 0; i < 100 && !refused; i++) {
    const res = await post(app, batch(`x${i}-`, 5))
    if (res.statusCode === 202) accepted += 5
    else refused = res
  }
  if (!refused) throw new Error('the byte quota never bit')
  t.equal(refused.statusCode, 429)
  t.match(refused.json(), { error: { code: 'OMNI_ERR_QUOTA_EXCEEDED', message: /of its 4096 body bytes per 86400 s/ } })
  t.ok(refused.headers['retry-after'])
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), accepted)
})

t.test('a chunked body without Content-Length is counted too', async (t) => {
  const { app } = await startTestApi(t, { api: { quotaBytes: 200, quotaWindowMs: DAY_MS } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const body = JSON.stringify(batch('chunked', 3))
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/events', headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents-batch+json', 'transfer-encoding': 'chunked' } }, (r) => {
      let text = ''
      r.on('data', (d: Buffer) => (text += d.toString()))
      r.on('end', () => resolve({ status: r.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.write(body.slice(0, 50))
    req.end(body.slice(50))
  })
  t.equal(res.status, 429, res.text)
  t.match(res.text, /may send 200 body bytes per 86400 s; this request alone carries \d+: split it/)
})

t.test("a token's own quota from the tokens list replaces the API's; 0 lifts it", async (t) => {
  const tokens = [
    { name: 'small', token: TEST_TOKENS.ingest, scopes: ['ingest'], quota: { events: 2 } },
    { name: 'unbounded', token: TEST_TOKENS.admin, scopes: ['admin'], quota: { events: 0 } },
  ]
  const { app } = await startTestApi(t, { api: { quotaEvents: 5, quotaWindowMs: DAY_MS, tokens } })
  t.equal((await post(app, batch('s', 3))).statusCode, 429, 'the small token gets 2')
  t.equal((await post(app, batch('u', 50), bearer('admin'))).statusCode, 202, 'the unbounded one is not counted')
})

t.test('a webhook delivery is charged after its signature checks out: to the source instance, bytes before the archive and events before publishing', async (t) => {
  process.env['OMNI_TEST_QUOTA_SECRET'] = 'quota-hmac-secret-0123456789'
  const files = {
    'catalog/messaging.yaml': await readFile(new URL('../../manifests/catalog/messaging.yaml', import.meta.url), 'utf8'),
    'webhooks/shop.yaml': 'kind: WebhookSource\nname: shop\nadapter: generic\nauth: { type: hmac-sha256, secretEnv: OMNI_TEST_QUOTA_SECRET }\nmapping: { type: topic, items: events, events: {} }\n',
  }
  const { app, fabric } = await startTestApi(t, { api: { quotaEvents: 3, quotaWindowMs: DAY_MS }, fabric: { files } })
  const deliver = (instance: string, n: number, secret = 'quota-hmac-secret-0123456789') => {
    const body = JSON.stringify({ events: Array.from({ length: n }, (_, i) => ({ topic: 'order.paid', id: `${instance}-${n}-${i}` })) })
    return app.inject({ method: 'POST', url: `/v1/webhooks/shop/${instance}`, headers: { 'content-type': 'application/json', 'x-omni-signature': createHmac('sha256', secret).update(body).digest('hex') }, payload: body })
  }
  // forged deliveries cost the source nothing
  for (let i = 0; i < 5; i++) t.equal((await deliver('store-1', 3, 'not-the-secret-0123456789')).statusCode, 401)
  t.equal((await deliver('store-1', 3)).statusCode, 202)
  const over = await deliver('store-1', 1)
  t.equal(over.statusCode, 429, over.body)
  t.match(over.json().error.message, /webhook shop\/store-1 sent 3 of its 3 events/)
  t.equal((await deliver('store-2', 3)).statusCode, 202, 'another instance has its own quota')
  t.equal((await fabric.jsm.streams.info(RAW_STREAM)).state.messages, 3, 'the refused delivery is archived (events are counted after the adapter), and can be replayed from there')
})

t.test('quota windows: counts start again at the next window; a refusal counts nothing', async (t) => {
  let now = 120_000
  const quotas = createQuotas({ quotaEvents: 10, quotaBytes: 1000, quotaWindowMs: 60_000 }, () => now)
  const caller = { key: 'token "a"' }
  quotas.charge(caller, { events: 10, bytes: 100 })
  now += 59_500
  const err = (() => {
    try {
      quotas.charge(caller, { events: 1, bytes: 1 })
    } catch (e) {
      return e as { code: string; retryAfterS?: number }
    }
    return undefined
  })()
  t.ok(hasCode(err, 'OMNI_ERR_QUOTA_EXCEEDED'))
  t.equal(err?.retryAfterS, 1, 'half a second left: retry in 1 s')
  now += 500
  t.doesNotThrow(() => quotas.charge(caller, { events: 10, bytes: 1000 }), 'a new window')
  t.throws(() => quotas.charge(caller, { events: 0, bytes: 1 }), 'bytes count too')
  const off = createQuotas({ quotaEvents: 0, quotaBytes: 0, quotaWindowMs: 60_000 })
  t.doesNotThrow(() => off.charge(caller, { events: 1e9, bytes: 1e12 }), '0 and 0: no quota')
})

t.test('quota settings are checked with their paths', async (t) => {
  const err = (() => {
    try {
      resolveApiConfig({ quotaEvents: -1, quotaWindowMs: 10, tokens: [{ name: 'a', token: TEST_TOKENS.admin, scopes: ['admin'], quota: { events: 1.5, calls: 3 } }] })
    } catch (e) {
      return e as { code: string; problems: { where: string }[] }
    }
    return undefined
  })()
  t.equal(err?.code, 'OMNI_ERR_CONFIG')
  t.same(err?.problems.map((p) => p.where).sort(), ['api.quotaEvents', 'api.quotaWindowMs', 'api.tokens[0].quota.calls', 'api.tokens[0].quota.events'])
})
