import { request as httpRequest } from 'node:http'
import t, { type Test } from 'tap'
import { resolveApiConfig } from '../../src/api/options.ts'
import { FRAGILE_PIPELINE, SEEN_SUBJECT, startTestApi, type TestApi } from '../fixtures/api.ts'
import { testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually, storedOn } from '../fixtures/fabric.ts'
import { broken } from '../fixtures/test-cartridges.ts'

t.setTimeout(240_000)

const A = 'tenant-a'
const B = 'tenant-b'

/** Tokens of tenant A for each scope, and an admin of tenant B that seeds B's data and checks it is there. */
const TOKENS = {
  aIngest: 'a-ingest-token-0123456789abcdef',
  aRead: 'a-read-token-0123456789abcdefgh',
  aAdmin: 'a-admin-token-0123456789abcdefg',
  bAdmin: 'b-admin-token-0123456789abcdefg',
} as const
type Who = keyof typeof TOKENS
const as = (who: Who) => ({ authorization: `Bearer ${TOKENS[who]}` })

const API_TOKENS = [
  { name: 'a-ingest', token: TOKENS.aIngest, scopes: ['ingest'], tenants: [A] },
  { name: 'a-read', token: TOKENS.aRead, scopes: ['read'], tenants: [A] },
  { name: 'a-admin', token: TOKENS.aAdmin, scopes: ['admin'], tenants: [A] },
  { name: 'b-admin', token: TOKENS.bAdmin, scopes: ['admin'], tenants: [B] },
]

/** A webhook source of tenant B that takes a bearer token (it declares no auth of its own). */
const B_SOURCE = {
  'webhooks/open-b.yaml': `kind: WebhookSource
name: open-b
adapter: generic
tenant: ${B}
mapping:
  type: kind
  events:
    note: { type: note.created, data: { noteId: id } }
`,
}

t.test('token tenants in the configuration: none is the default tenant; * only for admin and only with the operator consent', async (t) => {
  const token = (extra: Record<string, unknown>) => ({ name: 'x', token: 'x-token-0123456789abcdefghij', scopes: ['read'], ...extra })
  t.same(resolveApiConfig({ tokens: [token({})] }).tokens[0]?.tenants, ['default'], 'a token file written before tenants reaches the default tenant only')
  t.same(resolveApiConfig({ tokens: [token({ tenants: [A, B, A] })] }).tokens[0]?.tenants, [A, B])
  const refused = (settings: Parameters<typeof resolveApiConfig>[0]) => {
    try {
      resolveApiConfig(settings)
    } catch (err) {
      return (err as { code: string; problems: { where: string; message: string }[] }).problems.map((p) => `${p.where}: ${p.message}`)
    }
    return []
  }
  t.match(refused({ tokens: [token({ tenants: ['*'] })], allowAllTenants: true }), [/^api\.tokens\[0\]\.tenants\[0\]: .*only for a token with the admin scope/])
  t.match(refused({ tokens: [token({ scopes: ['admin'], tenants: ['*'] })] }), [/^api\.tokens\[0\]\.tenants\[0\]: .*--api-all-tenants/])
  t.equal(resolveApiConfig({ tokens: [token({ scopes: ['admin'], tenants: ['*'] })], allowAllTenants: true }).tokens[0]?.tenants, undefined, 'every tenant')
  t.match(refused({ tokens: [token({ scopes: ['admin'], tenants: ['*', A] })], allowAllTenants: true }), [/^api\.tokens\[0\]\.tenants\[0\]: .*stands alone/])
  t.match(refused({ tokens: [token({ tenants: [] })] }), [/^api\.tokens\[0\]\.tenants: must list one or more/])
  t.match(refused({ tokens: [token({ tenants: 'acme' })] }), [/^api\.tokens\[0\]\.tenants: must list/])
  t.match(refused({ tokens: [token({ tenants: [A, '', 7] })] }), [/^api\.tokens\[0\]\.tenants\[1\]: must be a tenant name/, /^api\.tokens\[0\]\.tenants\[2\]: must be a tenant name/])
})

/** One SSE stream from the start of the events stream, over a real socket: the events it sends until `until` holds. */
async function streamUntil(api: TestApi, who: Who, until: (events: { tenant?: string; data?: { noteId?: string } }[]) => boolean) {
  const address = api.app.server.address()
  if (!address || typeof address === 'string') throw new Error('the API is not listening')
  const events: { tenant?: string; data?: { noteId?: string } }[] = []
  let buffer = ''
  const req = httpRequest({ host: '127.0.0.1', port: address.port, path: '/v1/stream?after=0', headers: as(who) })
  req.on('response', (res) => {
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((l) => l.startsWith('data: '))
        buffer = buffer.slice(end + 2)
        if (data) events.push(JSON.parse(data.slice(6)))
      }
    })
  })
  req.on('error', () => undefined)
  req.end()
  const done = await eventually(() => until(events), 20_000)
  req.destroy()
  return { done, events }
}

interface Operation {
  'x-omni-access'?: string
  'x-omni-all-tenants'?: boolean
}

t.test('every route with a token of tenant A against the data of tenant B: reads find nothing, single records are 404, writes are refused', async (t) => {
  const api = await startTestApi(t, {
    pipeline: FRAGILE_PIPELINE,
    fabric: { clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 5 }, files: B_SOURCE },
    api: { tokens: API_TOKENS },
  })
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const inject = (who: Who, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) => api.app.inject({ method, url, headers: as(who), ...(payload === undefined ? {} : { payload: payload as object }) })
  const note = (noteId: string, extra: Record<string, unknown> = {}) => ({ specversion: '1.0', id: noteId, source: 'test://tenants', type: 'note.created', data: { noteId }, ...extra })

  // tenant B's data: two events (one dead-lettered), a webhook delivery; then one of tenant A
  broken.add('b-broken')
  t.teardown(() => void broken.clear())
  for (const id of ['b1', 'b-broken']) {
    const res = await inject('bAdmin', 'POST', '/v1/events', note(id))
    t.equal(res.statusCode, 202, res.body)
  }
  const hook = await inject('bAdmin', 'POST', '/v1/webhooks/open-b/shop-1', { kind: 'note', id: 'bw1' })
  t.equal(hook.statusCode, 202, hook.body)
  t.ok(await eventually(() => api.settled.some((s) => s.type === 'dead-lettered')), "B's broken note is dead-lettered")
  t.equal((await inject('aIngest', 'POST', '/v1/events', note('a1'))).statusCode, 202, 'A ingests without naming a tenant')
  t.ok(await eventually(async () => (await inject('bAdmin', 'GET', '/v1/events?limit=100')).json().events?.length >= 5, 20_000), "B's events and outputs are recorded")
  t.ok(await eventually(async () => (await inject('aRead', 'GET', '/v1/events/a1')).json().events?.length === 2, 20_000), "A's event and output are recorded")
  const bLetter = (await inject('bAdmin', 'GET', '/v1/dlq')).json().deadLetters[0]
  t.match(bLetter, { tenant: B, error: /b-broken/ }, 'the control: B sees its dead letter')

  /** What each route must show; a route the document lists and this table does not fails the test. */
  const checks: Record<string, (t: Test) => Promise<void>> = {
    'POST /v1/events': async (t) => {
      const stamped = (await inject('aRead', 'GET', '/v1/events/a1')).json().events
      t.ok(stamped.every((e: { tenant: string }) => e.tenant === A), 'an event naming no tenant gets the token one')
      const one = await inject('aIngest', 'POST', '/v1/events', note('a-into-b', { tenant: B }))
      t.equal(one.statusCode, 403, one.body)
      t.match(one.json().error, { code: 'OMNI_ERR_TENANT_FORBIDDEN', problems: [{ where: '$.tenant', message: /"tenant-b" is not one this token may act for \(tenant-a\)/ }] })
      const batch = await api.app.inject({ method: 'POST', url: '/v1/events', headers: { ...as('aAdmin'), 'content-type': 'application/cloudevents-batch+json' }, payload: JSON.stringify([note('a2'), note('a3', { tenant: B })]) })
      t.equal(batch.statusCode, 403, batch.body)
      t.match(batch.json().error, { code: 'OMNI_ERR_TENANT_FORBIDDEN', problems: [{ where: '$[1].tenant' }] })
      const binary = await api.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { ...as('aIngest'), 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'a4', 'ce-source': 'test://tenants', 'ce-type': 'note.created', 'ce-tenant': B },
        payload: { noteId: 'a4' },
      })
      t.equal(binary.statusCode, 403, binary.body)
      t.match(binary.json().error, { code: 'OMNI_ERR_TENANT_FORBIDDEN', problems: [{ where: 'headers.ce-tenant' }] })
      t.equal((await inject('aRead', 'GET', '/v1/events/a2')).statusCode, 404, 'nothing of a refused batch was published')
    },
    'POST /v1/webhooks/{provider}/{instance}': async (t) => {
      const res = await inject('aIngest', 'POST', '/v1/webhooks/open-b/shop-1', { kind: 'note', id: 'aw1' })
      t.equal(res.statusCode, 404, "a source of tenant B is unknown to A's token")
      t.equal(res.json().error.code, 'OMNI_ERR_WEBHOOK_UNKNOWN_SOURCE')
    },
    'GET /v1/events': async (t) => {
      const all = (await inject('aRead', 'GET', '/v1/events?limit=100')).json().events as { id: string; tenant: string }[]
      t.ok(all.length >= 2 && all.every((e) => e.tenant === A), `A reads only its own events (${all.map((e) => e.id).join(', ')})`)
      t.same((await inject('aRead', 'GET', `/v1/events?tenant=${B}`)).json().events, [], "asking for B's tenant finds nothing")
      t.same((await inject('aAdmin', 'GET', '/v1/events?type=note.created&text=b1')).json().events, [], 'nor a search for its text')
    },
    'GET /v1/events/{id}': async (t) => {
      for (const url of ['/v1/events/b1', `/v1/events/b1?tenant=${B}`, '/v1/events/b-broken']) {
        const res = await inject('aAdmin', 'GET', url)
        t.equal(res.statusCode, 404, url)
        t.equal(res.json().error.code, 'OMNI_ERR_NOT_FOUND', 'the same answer as an event that never was')
      }
      t.equal((await inject('bAdmin', 'GET', '/v1/events/b1')).statusCode, 200, 'the control: B reads it')
    },
    'GET /v1/catalog': async (t) => {
      const count = async (who: Who) => ((await inject(who, 'GET', '/v1/catalog')).json().observed as { type: string; count: number }[]).filter((o) => o.type === 'note.created').reduce((n, o) => n + o.count, 0)
      const aNotes = ((await inject('aRead', 'GET', '/v1/events?subject=omni.evt.test.note-created.v1&limit=100')).json().events as unknown[]).length
      t.ok(aNotes >= 1)
      t.equal(await count('aRead'), aNotes, 'A observes its own notes only')
      t.equal(await count('bAdmin'), 3, 'the control: B observes its three')
      const scoped = (await inject('aRead', 'GET', `/v1/catalog?tenant=${B}`)).json()
      t.same(scoped.observed, [], "asking for B's tenant observes nothing")
    },
    'GET /v1/stream': async (t) => {
      // a marker after all of B's events: once A's stream shows it, everything before it was considered
      t.equal((await inject('aIngest', 'POST', '/v1/events', note('a-marker'))).statusCode, 202)
      const a = await streamUntil(api, 'aRead', (events) => events.some((e) => e.data?.noteId === 'a-marker'))
      t.ok(a.done, 'A streams up to its marker')
      t.ok(a.events.length >= 2 && a.events.every((e) => e.tenant === A), `only A's events (${a.events.map((e) => `${e.tenant}/${e.data?.noteId}`).join(', ')})`)
      const b = await streamUntil(api, 'bAdmin', (events) => events.some((e) => e.data?.noteId === 'b1'))
      t.ok(b.done && b.events.every((e) => e.tenant === B), 'the control: B streams its own')
    },
    'GET /v1/dlq': async (t) => {
      t.same((await inject('aRead', 'GET', '/v1/dlq')).json().deadLetters, [])
      t.same((await inject('aRead', 'GET', '/v1/dlq?error=b-broken')).json().deadLetters, [])
    },
    'GET /v1/dlq/{seq}': async (t) => {
      const res = await inject('aRead', 'GET', `/v1/dlq/${bLetter.seq}`)
      t.equal(res.statusCode, 404, res.body)
      t.equal(res.json().error.code, 'OMNI_ERR_NOT_FOUND')
      t.notOk(res.body.includes('b-broken'), 'nothing of it leaks')
    },
    'POST /v1/dlq/redrive': async (t) => {
      const dry = (await inject('aAdmin', 'POST', '/v1/dlq/redrive', { dryRun: true })).json()
      t.match(dry, { matched: 0, deadLetters: [] })
      const real = (await inject('aAdmin', 'POST', '/v1/dlq/redrive', {})).json()
      t.match(real, { dryRun: false, matched: 0, redriven: 0 }, "A's redrive touches no letter of B")
      t.equal((await inject('bAdmin', 'GET', `/v1/dlq/${bLetter.seq}`)).statusCode, 200, "B's letter is still there")
    },
  }
  /** Routes over no tenant's data: the node's health and the configuration every tenant shares. */
  const global = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /v1/catalog/actions', 'GET /v1/pipelines', 'POST /v1/pipelines/validate', 'GET /v1/pipelines/{name}', 'GET /v1/plugins', 'GET /v1/plugins/pending', 'GET /v1/mesh'])
  /** Routes that change what every tenant shares: a token of some tenants only, admin or not, is refused. */
  const nodeWide = new Set(['PUT /v1/pipelines/{name}', 'DELETE /v1/pipelines/{name}', 'POST /v1/plugins/install', 'POST /v1/plugins/{id}/approve', 'POST /v1/plugins/{id}/revoke', 'POST /v1/plugins/{id}/promote', 'POST /v1/plugins/{id}/publish', 'POST /v1/plugins/revocations/publish', 'POST /v1/plugins/pending/{id}/approve', 'POST /v1/plugins/pending/{id}/reject'])
  const doc = (await api.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, Operation>> }
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
  for (const op of ops) {
    const check = checks[op]
    // each route in its own subtest: one that fails does not hide the others
    if (check) await t.test(op, check)
    else if (nodeWide.has(op)) {
      const [method, path] = op.split(' ') as ['PUT' | 'POST' | 'DELETE', string]
      const url = path.replace('{name}', 'notes').replace('{id}', 'x-id')
      const res = await api.app.inject({ method, url, headers: as('aAdmin'), ...(method === 'DELETE' ? {} : { payload: {} }) })
      t.equal(res.statusCode, 403, `${op} with an admin token of tenant A: ${res.body}`)
      t.match(res.json().error, { code: 'OMNI_ERR_FORBIDDEN', message: /acts for the tenants tenant-a; .* needs an admin token with tenants: \['\*'\]/ })
      t.equal(doc.paths[path]?.[method.toLowerCase()]?.['x-omni-all-tenants'], true, `${op} is documented as needing every tenant`)
    } else t.ok(global.has(op), `${op} serves no tenant's data`)
  }
  t.same(Object.keys(checks).filter((k) => !ops.includes(k)), [], 'every checked route is in the document')
})

t.test('a token of several tenants names one on every event; an event naming none gets the default tenant only when it is among them', async (t) => {
  const api = await startTestApi(t, { api: { tokens: [{ name: 'ab', token: 'ab-ingest-token-0123456789abcd', scopes: ['ingest'], tenants: [A, B] }] } })
  const post = (payload: object) => api.app.inject({ method: 'POST', url: '/v1/events', headers: { authorization: 'Bearer ab-ingest-token-0123456789abcd' }, payload })
  const none = await post({ specversion: '1.0', id: 'm1', source: 'test://tenants', type: 'note.created', data: { noteId: 'm1' } })
  t.equal(none.statusCode, 403, none.body)
  t.match(none.json().error, { code: 'OMNI_ERR_TENANT_FORBIDDEN', problems: [{ where: '$.tenant', message: /"default" is not one this token may act for \(tenant-a, tenant-b\)/ }] })
  const named = await post({ specversion: '1.0', id: 'm2', source: 'test://tenants', type: 'note.created', tenant: B, data: { noteId: 'm2' } })
  t.equal(named.statusCode, 202, named.body)
})

t.test('one idempotency key in two tenants is two events, each with its output: no tenant learns of the other, or drops its event', async (t) => {
  const api = await startTestApi(t, { api: { tokens: API_TOKENS } })
  const post = (who: Who) => api.app.inject({ method: 'POST', url: '/v1/events', headers: as(who), payload: { specversion: '1.0', id: `same-${who}`, source: 'test://tenants', type: 'note.created', data: { noteId: 'same' } } })
  const a = await post('aIngest')
  t.equal(a.statusCode, 202, a.body)
  const b = await post('bAdmin')
  t.equal(b.statusCode, 202, `B's event is stored, not answered as A's duplicate: ${b.body}`)
  t.match(b.json(), { duplicate: false, idempotencykey: 'note.created.v1:same' })
  t.not(b.json().seq, a.json().seq, "B's answer carries its own sequence, not A's")
  t.equal((await post('bAdmin')).json().duplicate, true, "a retry within B's tenant is still a duplicate")
  t.ok(await eventually(async () => (await storedOn(api.fabric.jsm, SEEN_SUBJECT)) === 2), 'the pipeline published an output for each tenant')
})
