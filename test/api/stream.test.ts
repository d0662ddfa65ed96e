import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { connect as tcpConnect } from 'node:net'
import t from 'tap'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { bearer, startTestApi, TEST_TOKENS, type TestApi } from '../fixtures/api.ts'
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
  let responseHeaders: IncomingHttpHeaders = {}
  let buffer = ''
  const req = httpRequest({ host: '127.0.0.1', port: address.port, path, headers: { ...bearer('read'), ...headers } })
  const opened = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      status = res.statusCode ?? 0
      contentType = String(res.headers['content-type'] ?? '')
      responseHeaders = res.headers
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
            // several data lines make one value, joined with a line feed (as EventSource does)
            else if (line.startsWith('data: ')) ev.data = ev.data === undefined ? line.slice(6) : `${ev.data}\n${line.slice(6)}`
          }
          if (ev.data !== undefined) events.push(ev)
        }
      })
      resolve(res)
    })
    req.on('error', reject)
  })
  req.end()
  return { events, comments, opened, status: () => status, contentType: () => contentType, headers: () => responseHeaders, close: () => req.destroy() }
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

t.test('stored bytes cannot break the framing: a type with a line break, pretty-printed JSON and multi-line text from a publisher outside the API', async (t) => {
  const api = await startTestApi(t)
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  // the operator's token (every tenant): text with no readable tenant is shown to it alone
  const client = connect(api, '/v1/stream?subject=omni.evt.outside.>', bearer('admin'))
  await client.opened
  t.ok(await eventually(() => client.comments.includes('connected')), 'the stream is open')
  const subject = 'omni.evt.outside.raw.v1'
  const forged = { type: 'x\nid: 999999\nevent: forged\ndata: {"forged":true}', tenant: 'default', data: { n: 1 } }
  const pretty = { type: 'outside.pretty', tenant: 'default', data: { lines: ['a', 'b'], nested: { deep: true } } }
  const text = 'line one\nid: 888888\r\ndata: not json\rlast line'
  const seqs: number[] = []
  for (const body of [JSON.stringify(forged), JSON.stringify(pretty, null, 2), text]) seqs.push((await api.fabric.js.publish(subject, body)).seq)
  t.ok(await eventually(() => client.events.length >= 3), 'three events')
  t.equal(client.events.length, 3, 'no event forged by the stored bytes')
  t.same(client.events.map((e) => e.id), seqs.map(String), 'each id is the stream sequence, none forged')
  const [first, second, third] = client.events
  t.equal(first?.event, 'event', 'a type that is no event name is sent under `event`')
  t.same(JSON.parse(first?.data ?? ''), forged, 'the envelope arrives whole, its type still in it')
  t.equal(second?.event, 'outside.pretty')
  t.same(JSON.parse(second?.data ?? ''), pretty, 'pretty-printed JSON arrives as one parseable value')
  t.notOk(second?.data?.includes('\n'), 'on one data line')
  t.equal(third?.event, 'event')
  t.equal(third?.data, 'line one\nid: 888888\ndata: not json\nlast line', 'text that is not JSON: one data line per line, joined back by the client')
  client.close()
})

/** How many consumers the events stream has: the fabric's pipelines plus one per open stream. */
const consumerCount = async (api: TestApi) => (await api.fabric.jsm.streams.info(EVENTS_STREAM)).state.consumer_count

t.test('a client that goes leaves no consumer behind, even when it goes while the stream is being opened', async (t) => {
  const api = await startTestApi(t)
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = api.app.server.address() as { port: number }
  const before = await consumerCount(api)
  const client = connect(api, '/v1/stream')
  await client.opened
  t.ok(await eventually(async () => (await consumerCount(api)) === before + 1), 'one consumer while the stream is open')
  client.close()
  t.ok(await eventually(async () => (await consumerCount(api)) === before, 5000), 'gone with the client')
  // the request arrives and the socket closes at once: the close comes while the consumer is made
  for (let i = 0; i < 5; i++) {
    const socket = tcpConnect(port, '127.0.0.1')
    socket.on('error', () => undefined)
    socket.write(`GET /v1/stream HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TEST_TOKENS.read}\r\n\r\n`, () => socket.destroy())
  }
  await new Promise((r) => setTimeout(r, 500))
  t.ok(await eventually(async () => (await consumerCount(api)) === before, 5000), `no consumer left by clients gone early (${await consumerCount(api)} for ${before})`)
})

t.test('a token holds a bounded number of streams: one more is a 429 naming the cap; another token and a closed slot are free', async (t) => {
  const api = await startTestApi(t, { api: { streamsPerToken: 2 } })
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const held = [connect(api, '/v1/stream'), connect(api, '/v1/stream')]
  await Promise.all(held.map((c) => c.opened))
  t.same(held.map((c) => c.status()), [200, 200])
  const over = await api.app.inject({ url: '/v1/stream', headers: bearer('read') })
  t.equal(over.statusCode, 429)
  t.match(over.json().error, { code: 'OMNI_ERR_RATE_LIMITED', message: /at most 2 streams/ })
  const admin = connect(api, '/v1/stream', bearer('admin'))
  await admin.opened
  t.equal(admin.status(), 200, 'another token has its own streams')
  held[0]?.close()
  let again: ReturnType<typeof connect> | undefined
  t.ok(
    await eventually(async () => {
      again?.close()
      again = connect(api, '/v1/stream')
      await again.opened
      return again.status() === 200
    }),
    'a closed stream frees its slot',
  )
  for (const c of [held[1], admin, again]) c?.close()
})

t.test('CORS: a stream answered to an allowed origin carries the CORS headers', async (t) => {
  const api = await startTestApi(t, { api: { corsOrigins: ['https://app.example.com'] } })
  await api.app.listen({ host: '127.0.0.1', port: 0 })
  const client = connect(api, '/v1/stream', { origin: 'https://app.example.com' })
  await client.opened
  t.equal(client.status(), 200)
  t.equal(client.headers()['access-control-allow-origin'], 'https://app.example.com')
  t.match(client.headers()['content-type'], /^text\/event-stream/)
  client.close()
})
