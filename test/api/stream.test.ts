import { request as httpRequest, type IncomingMessage } from 'node:http'
import t from 'tap'
import { bearer, startTestApi, type TestApi } from '../fixtures/api.ts'
import { eventually } from '../fixtures/fabric.ts'

t.setTimeout(120_000)

interface SseEvent {
  id?: string
  event?: string
  data?: string
}

/** An SSE client over a real socket: collects events and comments until closed. */
function connect(api: TestApi, path: string, headers: Record<string, string> = {}) {
  const address = api.app.server.address()
  if (!address || typeof address === 'string') throw new Error('the API is not listening')
  const events: SseEvent[] = []
  const comments: string[] = []
  let status = 0
  let contentType = ''
  let buffer = ''
  const req = httpRequest({ host: '127.0.0.1', port: address.port, path, headers: { ...bearer('read'), ...headers } })
  const opened = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      status = res.statusCode ?? 0
      contentType = String(res.headers['content-type'] ?? '')
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const ev: SseEvent = {}
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else if (line.startsWith('id: ')) ev.id = line.slice(4)
            else if (line.startsWith('event: ')) ev.event = line.slice(7)
            else if (line.startsWith('data: ')) ev.data = line.slice(6)
          }
          if (ev.data !== undefined) events.push(ev)
        }
      })
      resolve(res)
    })
    req.on('error', reject)
  })
  req.end()
  return { events, comments, opened, status: () => status, contentType: () => contentType, close: () => req.destroy() }
}

async function ingest(api: TestApi, ids: string[], extra: Record<string, unknown> = {}) {
  for (const noteId of ids) {
    const res = await api.app.inject({ method: 'POST', url: '/v1/events', headers: bearer('ingest'), payload: { specversion: '1.0', id: noteId, source: 'test://sse', type: 'note.created', data: { noteId }, ...extra } })
    if (res.statusCode !== 202) throw new Error(res.body)
  }
}

t.test('live events arrive with the stream sequence as id; a reconnect with Last-Event-ID replays exactly what was missed', async (t) => {
  const api = await startTestApi(t, { api: { heartbeatMs: 200 } })
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const first = connect(api, '/v1/stream?type=note.created')
  await first.opened
  t.equal(first.status(), 200)
  t.match(first.contentType(), /^text\/event-stream/)
  await ingest(api, ['a', 'b', 'c'])
  t.ok(await eventually(() => first.events.length === 3), 'three live events')
  t.same(first.events.map((e) => e.event), ['note.created', 'note.created', 'note.created'])
  t.same(first.events.map((e) => JSON.parse(e.data ?? '{}').data.noteId), ['a', 'b', 'c'])
  const lastSeen = first.events[1]?.id ?? ''
  first.close()
  // missed while disconnected
  await ingest(api, ['d', 'e'])
  const resumed = connect(api, '/v1/stream?type=note.created', { 'last-event-id': lastSeen })
  await resumed.opened
  t.ok(await eventually(() => resumed.events.length === 3), 'c, d and e')
  t.same(resumed.events.map((e) => JSON.parse(e.data ?? '{}').data.noteId), ['c', 'd', 'e'], 'exactly the events after Last-Event-ID, none twice')
  t.ok(resumed.events.every((e, i) => i === 0 || Number(e.id) > Number(resumed.events[i - 1]?.id)), 'ids increase')
  t.ok(await eventually(() => resumed.comments.some((c) => c.startsWith('heartbeat'))), 'heartbeats keep the connection alive')
  resumed.close()
})

t.test('filters: tenant and instance narrow the stream; outputs are there by subject; bad filters are refused before streaming', async (t) => {
  const api = await startTestApi(t)
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const acme = connect(api, '/v1/stream?tenant=acme&after=0')
  const outputs = connect(api, '/v1/stream?subject=omni.evt.test.note-seen.v1&after=0')
  await Promise.all([acme.opened, outputs.opened])
  await ingest(api, ['x1'], { tenant: 'acme' })
  await ingest(api, ['x2'], { tenant: 'other' })
  t.ok(await eventually(() => outputs.events.length === 2), 'the pipeline outputs of both')
  t.ok(await eventually(() => acme.events.length >= 2), 'acme sees its event and its output')
  t.ok(acme.events.every((e) => JSON.parse(e.data ?? '{}').tenant === 'acme'), 'nothing of another tenant')
  acme.close()
  outputs.close()
  for (const [query, where] of [
    ['type=nope.unknown', 'query.type'],
    ['subject=omni.dlq.x', 'query.subject'],
    ['colour=red', 'query.colour'],
  ] as const) {
    const res = await api.app.inject({ method: 'GET', url: `/v1/stream?${query}`, headers: bearer('read') })
    t.equal(res.statusCode, 400, query)
    t.match(res.json().error, { code: 'OMNI_ERR_BODY_INVALID', problems: [{ where }] }, query)
  }
  const badId = await api.app.inject({ method: 'GET', url: '/v1/stream', headers: { ...bearer('read'), 'last-event-id': 'abc' } })
  t.equal(badId.statusCode, 400)
  const noToken = await api.app.inject({ method: 'GET', url: '/v1/stream' })
  t.equal(noToken.statusCode, 401)
})

t.test('closing the API ends open streams', async (t) => {
  const api = await startTestApi(t)
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const client = connect(api, '/v1/stream')
  const res = await client.opened
  const ended = new Promise<void>((resolve) => res.on('close', () => resolve()))
  await api.app.close()
  await ended
  t.pass('the response ended when the API closed')
})
