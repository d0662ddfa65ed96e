import t from 'tap'
import { buildApi, startApi } from '../../src/api/mod.ts'
import { openApiDocument } from '../../src/api/openapi-document.ts'
import { API_DEFAULTS, resolveApiConfig, SCOPES, type Scope } from '../../src/api/options.ts'
import { createLogger, silentLogger } from '../../src/observability/logger.ts'
import { bearer, startTestApi, TEST_TOKENS, type TestApi } from '../fixtures/api.ts'
import { testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually } from '../fixtures/fabric.ts'
import { omni } from '../fixtures/cli.ts'

t.setTimeout(240_000)

interface Operation {
  security?: Record<string, string[]>[]
  'x-omni-access'?: string
  parameters?: { in: string; name: string }[]
  requestBody?: unknown
  responses?: Record<string, unknown>
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } }

/** Every operation in the document, with a URL whose path parameters are filled in. */
function operations(doc: Doc) {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase() as 'GET' | 'POST' | 'PUT' | 'DELETE', path, url: path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'provider' ? 'open' : name === 'seq' ? '1' : `x-${name}`)), op })),
  )
}

/** The routes Fastify has, read from its route tree (the docs UI's own routes left out), HEAD aside. */
function registeredMethods(app: TestApi['app']): number {
  let count = 0
  let inDocs = false
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const top = /^[├└]── (\S+)/.exec(line)
    if (top) inDocs = top[1] === '/docs'
    if (inDocs) continue
    const methods = /\(([A-Z, ]+)\)\s*$/.exec(line)?.[1]?.split(', ') ?? []
    count += methods.filter((m) => m !== 'HEAD' && m !== 'OPTIONS').length
  }
  return count
}

const OPEN_SOURCE = { 'webhooks/open.yaml': 'kind: WebhookSource\nname: open\nadapter: generic\nmapping: { type: kind, events: {} }\n' }

/** What each scope's token may do: admin includes the others. */
const allowed = (token: Scope, needs: string) => token === 'admin' || token === needs

t.test('auth on every route the app has: no token 401, an unknown token 401, a token without the scope 403; only health and docs are public', async (t) => {
  const api = await startTestApi(t, { fabric: { files: OPEN_SOURCE } })
  const doc = (await api.app.inject({ url: '/docs/json' })).json() as Doc
  const ops = operations(doc)
  t.equal(ops.length, registeredMethods(api.app), 'the document lists every route Fastify has, so none escapes this test')
  t.ok(ops.length >= 20, `${ops.length} operations`)
  const publicOnes: string[] = []
  for (const { method, url, path, op } of ops) {
    const access = op['x-omni-access']
    t.ok(access && ['public', 'webhook', ...SCOPES].includes(access), `${method} ${path} declares its access (${access})`)
    if (access === 'public') {
      publicOnes.push(`${method} ${path}`)
      t.same(op.security, [], `${method} ${path}: documented as public`)
      continue
    }
    const payload = method === 'GET' || method === 'DELETE' ? undefined : {}
    const none = await api.app.inject({ method, url, ...(payload ? { payload } : {}) })
    t.equal(none.statusCode, 401, `${method} ${path} without a token`)
    t.equal(none.json().error?.code, 'OMNI_ERR_UNAUTHORIZED', `${method} ${path}: ${none.body}`)
    const unknown = await api.app.inject({ method, url, headers: { authorization: 'Bearer not-a-token-of-this-api-000000' }, ...(payload ? { payload } : {}) })
    t.equal(unknown.statusCode, 401, `${method} ${path} with an unknown token`)
    if (access === 'webhook') {
      t.same(op.security, [{}, { bearer: [] }], 'a webhook takes its source secret, or else a bearer token')
      continue
    }
    t.same(op.security, [{ bearer: [] }], `${method} ${path}: documented as bearer`)
    for (const scope of SCOPES) {
      if (allowed(scope, access as string)) continue
      const res = await api.app.inject({ method, url, headers: bearer(scope), ...(payload ? { payload } : {}) })
      t.equal(res.statusCode, 403, `${method} ${path} (${access}) with a ${scope} token`)
      t.equal(res.json().error?.code, 'OMNI_ERR_FORBIDDEN')
    }
  }
  t.same(publicOnes.sort(), ['GET /healthz', 'GET /readyz'])
  // a scheme-less or malformed header is no token either
  for (const authorization of [TEST_TOKENS.admin, `Basic ${TEST_TOKENS.admin}`, 'Bearer', `Bearer ${TEST_TOKENS.admin} extra`]) {
    const res = await api.app.inject({ url: '/v1/catalog/actions', headers: { authorization } })
    t.equal(res.statusCode, 401, `Authorization: ${authorization.replace(TEST_TOKENS.admin, '<admin>')}`)
  }
  const docsPage = await api.app.inject({ url: '/docs' })
  t.ok(docsPage.statusCode < 400, 'the docs page is public')
})

t.test('the same over a real socket: tokens, scopes and the one error shape', async (t) => {
  const api = await startTestApi(t)
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = api.app.server.address() as { port: number }
  const base = `http://127.0.0.1:${port}`
  const anon = await fetch(`${base}/v1/catalog/actions`)
  t.equal(anon.status, 401)
  t.match(await anon.json(), { error: { code: 'OMNI_ERR_UNAUTHORIZED', status: 401, message: /bearer token/, problems: [] } })
  const ingestOnly = await fetch(`${base}/v1/catalog/actions`, { headers: bearer('ingest') })
  t.equal(ingestOnly.status, 403)
  t.notOk(JSON.stringify(await ingestOnly.json()).includes(TEST_TOKENS.ingest), 'the answer never echoes the token')
  t.equal((await fetch(`${base}/v1/catalog/actions`, { headers: bearer('read') })).status, 200)
  t.equal((await fetch(`${base}/v1/catalog/actions`, { headers: bearer('admin') })).status, 200, 'admin includes read')
  const missing = await fetch(`${base}/v1/nothing-here?x=1`, { headers: bearer('admin') })
  t.equal(missing.status, 404)
  t.same(await missing.json(), { error: { code: 'OMNI_ERR_NOT_FOUND', message: 'no route GET /v1/nothing-here', status: 404, problems: [] } })
  const anonMissing = await fetch(`${base}/nope`)
  t.equal(anonMissing.status, 404, 'an unknown route is a 404 in the same shape, token or not')
  t.equal(((await anonMissing.json()) as { error: { code: string } }).error.code, 'OMNI_ERR_NOT_FOUND')
  const badUrl = await fetch(`${base}/v1/events/%E0%A4%A`, { headers: bearer('read') })
  t.equal(badUrl.status, 400, 'a URL that cannot be decoded is a client error')
  t.match(await badUrl.json(), { error: { code: 'OMNI_ERR_BODY_INVALID', status: 400, message: /cannot be read/, problems: [] } }, 'in the same shape')
})

t.test('health is public; readiness reports NATS and ClickHouse (off, then on with the embedded engine)', async (t) => {
  const api = await startTestApi(t)
  const health = await api.app.inject({ url: '/healthz' })
  t.same(health.json(), { ok: true })
  const ready = await api.app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200, ready.body)
  t.match(ready.json(), { ready: true, checks: { fabric: { ok: true, detail: 'running' }, nats: { ok: true, detail: /^rtt \d+(\.\d+)? ms$/ }, clickhouse: { ok: true, detail: /off/ } } })

  t.test('with ClickHouse', async (t) => {
    const withCh = await startTestApi(t, { fabric: { clickhouse: testClickHouseConfig() } })
    const res = await withCh.app.inject({ url: '/readyz' })
    t.equal(res.statusCode, 200, res.body)
    t.match(res.json(), { ready: true, checks: { clickhouse: { ok: true, detail: /embedded|chdb|ClickHouse/i } } })
  })

  t.test('NATS gone: 503 naming it', async (t) => {
    const down = await startTestApi(t)
    // the connection, not the server: a fabric whose server is gone does not close in bounded time (reported)
    await down.fabric.nc.close()
    const res = await down.app.inject({ url: '/readyz' })
    t.equal(res.statusCode, 503, res.body)
    t.match(res.json(), { ready: false, checks: { nats: { ok: false } } })
    t.equal((await down.app.inject({ url: '/healthz' })).statusCode, 200, 'the process itself still answers')
  })
})

t.test('/readyz answers from one probe at a time, shared for a second: many callers cannot load NATS or ClickHouse', async (t) => {
  const api = await startTestApi(t)
  // count the NATS round trips the probes make (the real ones still go to the server)
  const nc = api.fabric.nc
  const rtt = nc.rtt.bind(nc)
  let probes = 0
  nc.rtt = () => {
    probes++
    return rtt()
  }
  const concurrent = await Promise.all(Array.from({ length: 20 }, () => api.app.inject({ url: '/readyz' })))
  t.ok(concurrent.every((r) => r.statusCode === 200))
  t.equal(probes, 1, 'twenty concurrent calls, one probe')
  const checkedAt = concurrent[0]?.json().checkedAt
  t.ok(!Number.isNaN(Date.parse(checkedAt)), `checkedAt ${checkedAt}`)
  t.ok(concurrent.every((r) => r.json().checkedAt === checkedAt), 'all answered from it')
  await new Promise((r) => setTimeout(r, 300))
  t.equal((await api.app.inject({ url: '/readyz' })).json().checkedAt, checkedAt, 'within the second: the same probe')
  t.equal(probes, 1)
  await new Promise((r) => setTimeout(r, 1000))
  const later = (await api.app.inject({ url: '/readyz' })).json()
  t.not(later.checkedAt, checkedAt, 'after it: a new probe')
  t.equal(probes, 2)
})

t.test('metrics gauges: another API built in the process, and the OpenAPI build, leave the live API its gauges', async (t) => {
  const api = await startTestApi(t)
  const metrics = async () => (await api.app.inject({ url: '/metrics', headers: bearer('read') })).body
  const lag = /^omni_consumer_lag\{pipeline="notes",kind="pending"\} 0$/m
  t.match(await metrics(), lag)
  await openApiDocument()
  t.match(await metrics(), lag, 'after omni openapi built and closed its app')
  t.match(await metrics(), /^omni_dead_letters_stored 0$/m)
  const second = await buildApi(api.fabric.node, api.config, silentLogger())
  await second.ready()
  t.match((await second.inject({ url: '/metrics', headers: bearer('read') })).body, lag, 'the second API shows them too')
  await second.close()
  t.match(await metrics(), lag, 'after the second API closed')
  t.match(await metrics(), /^omni_dead_letters_stored 0$/m)
})

const FLAKY_PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 2, backoff: [20ms] }
stages:
  - { id: check, uses: test.flaky, with: { permanent: true } }
  - { id: record, uses: test.record, needs: [check] }
outputs:
  - subject: omni.evt.test.note-seen.v1
`

t.test('/metrics needs read and carries pipeline and stage counters, the stage latency histogram, consumer lag and dead letters', async (t) => {
  const api = await startTestApi(t, { pipeline: FLAKY_PIPELINE })
  const note = (noteId: string, fail = 0) => ({ specversion: '1.0', id: noteId, source: 'test://metrics', type: 'note.created', data: { noteId, fail } })
  for (const n of [note('m1'), note('m2'), note('m3'), note('bad', 1)]) {
    const res = await api.app.inject({ method: 'POST', url: '/v1/events', headers: bearer('ingest'), payload: n })
    t.equal(res.statusCode, 202, res.body)
  }
  t.ok(await eventually(() => api.settled.filter((e) => e.type === 'acked').length >= 3 && api.settled.some((e) => e.type === 'dead-lettered')), 'processed: three done, one dead-lettered')
  t.equal((await api.app.inject({ url: '/metrics' })).statusCode, 401)
  t.equal((await api.app.inject({ url: '/metrics', headers: bearer('ingest') })).statusCode, 403)
  const res = await api.app.inject({ url: '/metrics', headers: bearer('read') })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain/)
  const text = res.body
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN)
  t.ok(value(/^omni_pipeline_events_total\{pipeline="notes",outcome="done"\} (\d+)/m) >= 3, 'events settled per pipeline and outcome')
  t.ok(value(/^omni_pipeline_events_total\{pipeline="notes",outcome="dead-lettered"\} (\d+)/m) >= 1)
  t.ok(value(/^omni_stage_runs_total\{pipeline="notes",stage="record",status="ran"\} (\d+)/m) >= 3, 'stage runs by status')
  t.ok(value(/^omni_stage_errors_total\{pipeline="notes",stage="check"\} (\d+)/m) >= 2, 'stage errors: both attempts of the bad event')
  t.ok(value(/^omni_stage_seconds_count\{pipeline="notes",stage="record"\} (\d+)/m) >= 3, 'the stage latency histogram counts every run')
  t.match(text, /^omni_stage_seconds_bucket\{le="0\.001",pipeline="notes",stage="record"\} \d+/m)
  t.ok(value(/^omni_dead_letters_total\{pipeline="notes"\} (\d+)/m) >= 1, 'dead letters sent')
  t.equal(value(/^omni_dead_letters_stored (\d+)/m), 1, 'dead letters waiting, read from the DLQ stream')
  t.equal(value(/^omni_consumer_lag\{pipeline="notes",kind="pending"\} (\d+)/m), 0, 'consumer lag per pipeline (nothing waiting)')
  t.match(text, /^omni_consumer_lag\{pipeline="notes",kind="ack_pending"\} \d+/m)
})

t.test('rate limit per token: 429 OMNI_ERR_RATE_LIMITED with retry-after; another token and public routes are unaffected', async (t) => {
  const api = await startTestApi(t, { api: { rateLimit: 3 } })
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = api.app.server.address() as { port: number }
  const get = (headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}/v1/catalog/actions`, { headers })
  for (let i = 0; i < 3; i++) t.equal((await get(bearer('read'))).status, 200, `request ${i + 1} of 3`)
  const limited = await get(bearer('read'))
  t.equal(limited.status, 429)
  t.match(await limited.json(), { error: { code: 'OMNI_ERR_RATE_LIMITED', status: 429, message: /rate limit of 3/ } })
  const retryAfter = Number(limited.headers.get('retry-after'))
  t.ok(retryAfter > 0 && retryAfter <= 60, `retry-after ${retryAfter} s`)
  t.equal((await get(bearer('admin'))).status, 200, 'another token has its own budget')
  for (let i = 0; i < 5; i++) t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'health is never limited')
  // without a token the budget is the address's: failed attempts are counted too
  for (let i = 0; i < 3; i++) await get()
  t.equal((await get()).status, 429, 'guessing tokens from one address is limited')
})

t.test('body limit: 413 OMNI_ERR_BODY_TOO_LARGE over a real socket, nothing stored', async (t) => {
  const api = await startTestApi(t, { api: { bodyLimit: 1024 } })
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = api.app.server.address() as { port: number }
  const body = JSON.stringify({ specversion: '1.0', id: 'big', source: 'test://limit', type: 'note.created', data: { noteId: 'big', text: 'x'.repeat(2048) } })
  const res = await fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', headers: { ...bearer('ingest'), 'content-type': 'application/json' }, body })
  t.equal(res.status, 413)
  t.match(await res.json(), { error: { code: 'OMNI_ERR_BODY_TOO_LARGE', status: 413 } })
  // a chunked body without a content-length is cut off at the same limit
  const chunks = new ReadableStream({
    start(c) {
      for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode(i === 0 ? body.slice(0, 600) : 'x'.repeat(600)))
      c.close()
    },
  })
  const chunked = await fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', headers: { ...bearer('ingest'), 'content-type': 'application/json' }, body: chunks, duplex: 'half' } as RequestInit)
  t.equal(chunked.status, 413)
  t.equal((await api.fabric.jsm.streams.info('OMNI_EVENTS')).state.messages, 0)
})

t.test('CORS: off without an allowlist; with one, only the listed origin gets the header, and preflight works without a token', async (t) => {
  const off = await startTestApi(t)
  const plain = await off.app.inject({ url: '/v1/catalog/actions', headers: { ...bearer('read'), origin: 'https://app.example.com' } })
  t.equal(plain.statusCode, 200)
  t.equal(plain.headers['access-control-allow-origin'], undefined, 'no allowlist, no CORS header')
  const offPreflight = await off.app.inject({ method: 'OPTIONS', url: '/v1/events', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
  t.equal(offPreflight.headers['access-control-allow-origin'], undefined)

  const on = await startTestApi(t, { api: { corsOrigins: ['https://app.example.com'] } })
  const ok = await on.app.inject({ url: '/v1/catalog/actions', headers: { ...bearer('read'), origin: 'https://app.example.com' } })
  t.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com')
  const other = await on.app.inject({ url: '/v1/catalog/actions', headers: { ...bearer('read'), origin: 'https://evil.example.com' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'an origin not listed gets no header')
  t.equal(other.headers['access-control-allow-credentials'], undefined, 'never credentials')
  // browsers send the preflight without the Authorization header
  const preflight = await on.app.inject({ method: 'OPTIONS', url: '/v1/events', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } })
  t.equal(preflight.statusCode, 204, preflight.body)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  const badPreflight = await on.app.inject({ method: 'OPTIONS', url: '/v1/events', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } })
  t.equal(badPreflight.headers['access-control-allow-origin'], undefined)
  const denied = await on.app.inject({ url: '/v1/catalog/actions', headers: { origin: 'https://app.example.com' } })
  t.equal(denied.statusCode, 401, 'CORS grants no access by itself')
  t.equal(denied.headers['access-control-allow-origin'], 'https://app.example.com', 'the browser can read the error')
})

t.test('binds 127.0.0.1 by default: the config, the listening socket, and omni up --help', async (t) => {
  t.equal(resolveApiConfig().host, '127.0.0.1')
  t.equal(API_DEFAULTS.host, '127.0.0.1')
  const api = await startTestApi(t)
  const config = resolveApiConfig({ port: 0, tokens: [{ name: 'a', token: TEST_TOKENS.admin, scopes: ['admin'] }] })
  const started = await startApi(api.fabric.node, config, createLogger({ level: 'silent' }))
  t.teardown(() => started.app.close())
  t.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal((started.app.server.address() as { address: string }).address, '127.0.0.1', 'the socket is on loopback only')
  const help = await omni(['up', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout.replace(/\s+/g, ' '), /--api-host <host> address the API binds .*\(default: \$OMNI_API_HOST, else "127\.0\.0\.1"\)/)
})

t.test('the OpenAPI document lists every route with its schemas and the bearer scheme', async (t) => {
  const api = await startTestApi(t)
  const res = await api.app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as Doc
  t.match(doc.openapi, /^3\./)
  t.same(doc.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } })
  for (const { method, path, op } of operations(doc)) {
    t.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path} documents its responses`)
    if (method === 'POST' || method === 'PUT') t.ok(op.requestBody, `${method} ${path} documents its body`)
    for (const name of path.match(/\{(\w+)\}/g) ?? []) t.ok(op.parameters?.some((p) => p.in === 'path' && `{${p.name}}` === name), `${method} ${path} documents ${name}`)
  }
  t.ok(doc.paths['/v1/events']?.['get']?.parameters?.some((p) => p.in === 'query' && p.name === 'limit'), 'query parameters come from the schema')
  t.same(await openApiDocument(api.config), doc, 'the document `omni openapi` prints is the one the server serves')
})

t.test('no coercion and no stripping: a wrong type or an extra field is a 400 naming the path', async (t) => {
  const api = await startTestApi(t)
  const limit = await api.app.inject({ url: '/v1/events?limit=abc', headers: bearer('read') })
  t.equal(limit.statusCode, 400)
  t.match(limit.json().error, { code: 'OMNI_ERR_BODY_INVALID', problems: [{ where: 'query.limit' }] })
  const extra = await api.app.inject({ url: '/v1/events?limit=5&colour=red', headers: bearer('read') })
  t.equal(extra.statusCode, 400)
  t.match(extra.json().error.problems, [{ where: 'query.colour' }])
  const after = await api.app.inject({ url: '/v1/stream?after=-1', headers: bearer('read') })
  t.match(after.json().error, { code: 'OMNI_ERR_BODY_INVALID', problems: [{ where: 'query.after' }] })
  const typed = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer('admin'), payload: { dryRun: 'yes' } })
  t.equal(typed.statusCode, 400, 'a string is not coerced into a boolean')
  t.match(typed.json().error.problems, [{ where: '$.dryRun' }])
  const stripped = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer('admin'), payload: { dryRun: true, colour: 'red' } })
  t.equal(stripped.statusCode, 400, 'an unknown field is refused, not stripped')
  t.match(stripped.json().error.problems, [{ where: '$.colour' }])
})

t.test('logs redact credentials: authorization, apikey, cookies and webhook signature headers, at any depth the code logs them', async (t) => {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } })
  const secrets = ['Bearer sekrit-token-1', 'sekrit-apikey-2', 'sekrit-cookie-3', 'sekrit-sig-4', 'sekrit-shared-5', 'sekrit-hmac-6', 'sekrit-proxy-7', 'sekrit-hub-8']
  const headers = {
    authorization: secrets[0],
    apikey: secrets[1],
    cookie: secrets[2],
    'x-signature-ed25519': secrets[3],
    'x-omni-webhook-secret': secrets[4],
    'x-omni-signature': secrets[5],
    'proxy-authorization': secrets[6],
    'x-hub-signature-256': secrets[7],
    'content-type': 'application/json',
  }
  logger.info({ headers }, 'flat')
  logger.info({ req: { method: 'POST', headers } }, 'request')
  logger.info({ delivery: { provider: 'evolution', headers, body: { event: 'messages.upsert', apikey: secrets[1] } } }, 'nested')
  logger.info({ apikey: secrets[1], token: 'sekrit-token-9', secret: 'sekrit-10', password: 'sekrit-11' }, 'top level')
  const out = lines.join('')
  t.equal(lines.length, 4, out)
  t.notMatch(out, /sekrit/, 'no secret reaches a log line')
  t.match(out, /application\/json/, 'other fields are kept')
  t.match(out, /messages\.upsert/)
})
