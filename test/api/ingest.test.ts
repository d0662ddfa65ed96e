import { once } from 'node:events'
import { Agent, request as httpRequest } from 'node:http'
import t from 'tap'
import { MAX_EVENTS_PER_REQUEST } from '../../src/ingest/publish.ts'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { readSubject, storedOn } from '../fixtures/fabric.ts'
import { TEST_SOURCE } from '../fixtures/manifests.ts'

t.setTimeout(120_000)

const note = (noteId: string, extra: Record<string, unknown> = {}) => ({ specversion: '1.0', id: `ce-${noteId}`, source: 'test://client', type: 'note.created', data: { noteId, text: 'hi' }, ...extra })

t.test('structured mode: durable in JetStream before the answer, with the stream sequence; a repeat answers as a duplicate', async (t) => {
  const { app, fabric } = await startTestApi(t)
  const first = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents+json' }, payload: note('n1') })
  t.equal(first.statusCode, 202, first.body)
  const body = first.json()
  t.match(body, { id: 'ce-n1', type: 'note.created', subject: TEST_SOURCE, idempotencykey: String, duplicate: false })
  t.ok(body.seq >= 1)
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 1, 'the event is in the stream when the answer arrives')
  const again = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), 'content-type': 'application/json' }, payload: note('n1', { id: 'ce-n1-retry' }) })
  t.equal(again.statusCode, 200)
  t.match(again.json(), { duplicate: true, seq: body.seq })
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 1, 'a duplicate is not stored twice')
  const [stored] = await readSubject(fabric, TEST_SOURCE)
  t.match(stored, { id: 'ce-n1', source: 'test://client', data: { noteId: 'n1', text: 'hi' }, tenant: 'default', visibility: 'local' })
})

t.test('binary mode: attributes in ce-* headers, the body is data; problems point at headers or body paths', async (t) => {
  const { app, fabric } = await startTestApi(t)
  const ok = await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...bearer('ingest'), 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'b1', 'ce-source': 'test://bin', 'ce-type': 'note.created', 'ce-actor': 'alice' },
    payload: { noteId: 'b1' },
  })
  t.equal(ok.statusCode, 202, ok.body)
  const [stored] = await readSubject(fabric, TEST_SOURCE)
  t.match(stored, { id: 'b1', source: 'test://bin', actor: 'alice', datacontenttype: 'application/json', data: { noteId: 'b1' } })
  const bad = await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...bearer('ingest'), 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'b2', 'ce-source': 'test://bin', 'ce-type': 'note.created', 'ce-colour': 'red' },
    payload: { noteId: 7 },
  })
  t.equal(bad.statusCode, 400)
  const wheres = bad.json().error.problems.map((p: { where: string }) => p.where)
  t.ok(wheres.includes('$.noteId'), `data problem at the body path: ${wheres}`)
  t.ok(wheres.includes('headers.ce-colour'), `unknown attribute at its header: ${wheres}`)
  const missing = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), 'content-type': 'application/json', 'ce-specversion': '1.0' }, payload: { noteId: 'x' } })
  t.same(missing.json().error.problems.map((p: { where: string }) => p.where).sort(), ['headers.ce-id', 'headers.ce-source', 'headers.ce-type'])
})

t.test('batch mode: all or nothing, each problem with its index; accepted and duplicates counted', async (t) => {
  const { app, fabric } = await startTestApi(t)
  const headers = { ...bearer('ingest'), 'content-type': 'application/cloudevents-batch+json' }
  const bad = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: [note('a'), { ...note('b'), data: { text: 'no id' } }, { ...note('c'), type: 'nope.unknown' }, 42] })
  t.equal(bad.statusCode, 400)
  const err = bad.json().error
  t.equal(err.code, 'OMNI_ERR_EVENT_INVALID')
  t.same(err.problems.map((p: { where: string }) => p.where), ['$[3]'], 'the shape check names the item that is not an object first')
  const bad2 = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: [note('a'), { ...note('b'), data: { text: 'no id' } }, { ...note('c'), type: 'nope.unknown' }] })
  const wheres = bad2.json().error.problems.map((p: { where: string }) => p.where)
  t.ok(wheres.includes('$[1].data.noteId'), String(wheres))
  t.ok(wheres.includes('$[2].type'), String(wheres))
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 0, 'a rejected batch publishes nothing, not even its valid events')
  const ok = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: [note('a'), note('b'), note('a', { id: 'again' })] })
  t.equal(ok.statusCode, 202, ok.body)
  t.match(ok.json(), { accepted: 2, duplicates: 1 })
  t.equal(ok.json().results.length, 3)
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 2)
  const empty = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: [] })
  t.equal(empty.statusCode, 400)
  const notArray = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: note('z') })
  t.match(notArray.json().error.problems, [{ where: '$', message: 'must be an array' }])
})

t.test('malformed bodies of every kind are refused with a stable code, and nothing is stored', async (t) => {
  const { app, fabric } = await startTestApi(t, { api: { bodyLimit: 2048 } })
  const post = (payload: string, contentType: string | undefined) =>
    app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), ...(contentType ? { 'content-type': contentType } : {}) }, payload })
  const cases: [string, string, string | undefined, string, number][] = [
    ['not JSON', '{"type": ', 'application/json', 'OMNI_ERR_BODY_INVALID', 400],
    ['empty JSON body', '', 'application/json', 'OMNI_ERR_BODY_INVALID', 400],
    ['prototype poisoning', '{"specversion":"1.0","id":"p","source":"s","type":"note.created","data":{"noteId":"p"},"__proto__":{"admin":true}}', 'application/json', 'OMNI_ERR_BODY_INVALID', 400],
    ['text/plain', 'hello', 'text/plain', 'OMNI_ERR_UNSUPPORTED_MEDIA_TYPE', 415],
    ['a JSON string', '"hello"', 'application/json', 'OMNI_ERR_EVENT_INVALID', 400],
    ['an array without the batch type', '[]', 'application/cloudevents+json', 'OMNI_ERR_EVENT_INVALID', 400],
    ['over the body limit', JSON.stringify(note('big', { data: { noteId: 'big', text: 'x'.repeat(4096) } })), 'application/json', 'OMNI_ERR_BODY_TOO_LARGE', 413],
    ['wrong specversion', JSON.stringify(note('v', { specversion: '0.3' })), 'application/json', 'OMNI_ERR_EVENT_INVALID', 400],
    ['time not UTC', JSON.stringify(note('tz', { time: '2026-12-06T10:00:00+01:00' })), 'application/json', 'OMNI_ERR_EVENT_INVALID', 400],
    ['unknown envelope field', JSON.stringify(note('u', { colour: 'red' })), 'application/json', 'OMNI_ERR_EVENT_INVALID', 400],
    ['data not an object', JSON.stringify(note('d', { data: 'text' })), 'application/json', 'OMNI_ERR_EVENT_INVALID', 400],
    ['unknown event type', JSON.stringify(note('t', { type: 'nope.unknown' })), 'application/json', 'OMNI_ERR_UNKNOWN_EVENT_TYPE', 400],
  ]
  for (const [name, payload, type, code, status] of cases) {
    const res = await post(payload, type)
    t.equal(res.statusCode, status, `${name}: status`)
    t.equal(res.json().error?.code, code, `${name}: ${res.body}`)
  }
  const typed = await post(JSON.stringify(note('n', { data: { noteId: 5, extra: true } })), 'application/json')
  t.same(
    typed.json().error.problems.map((p: { where: string }) => p.where),
    ['$.data.noteId'],
    'a number where a string belongs is refused, not coerced',
  )
  const unknownField = await post(JSON.stringify(note('u', { colour: 'red' })), 'application/json')
  t.match(unknownField.json().error.problems, [{ where: '$.colour', message: /unknown field/ }], 'unknown fields are refused, not stripped')
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 0)
})

t.test('closing the API lets a request in flight finish: a batch whose body is still arriving gets its 202, and close() then ends promptly', async (t) => {
  const { app, fabric } = await startTestApi(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const body = JSON.stringify([note('s1'), note('s2'), note('s3')])
  // a client that keeps its connection: the server must end it after the answer, not wait for it
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const headers = { ...bearer('ingest'), 'content-type': 'application/cloudevents-batch+json', 'content-length': String(Buffer.byteLength(body)) }
  const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/events', agent, headers })
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
  })
  const arrived = once(app.server, 'request')
  req.write(body.slice(0, 20))
  await arrived
  const started = Date.now()
  const closing = app.close()
  // a close that cut connections would have reset this one by now
  await new Promise((r) => setTimeout(r, 300))
  req.end(body.slice(20))
  const res = await answer
  t.equal(res.status, 202, res.text)
  t.match(JSON.parse(res.text), { accepted: 3 })
  await closing
  t.ok(Date.now() - started < 5000, `close() ended ${Date.now() - started} ms after it began, not at the keep-alive timeout`)
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 3, 'what was answered is stored')
})

t.test('a batch of more events than one request may carry is refused whole', async (t) => {
  const { app, fabric } = await startTestApi(t, { api: { bodyLimit: 1024 * 1024 } })
  const headers = { ...bearer('ingest'), 'content-type': 'application/cloudevents-batch+json' }
  const batch = Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, (_, i) => note(`n${i}`))
  const res = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: batch })
  t.equal(res.statusCode, 413, res.body)
  t.match(res.json(), { error: { code: 'OMNI_ERR_BODY_TOO_LARGE', message: new RegExp(`the batch holds ${MAX_EVENTS_PER_REQUEST + 1} events`) } })
  t.equal(await storedOn(fabric.jsm, TEST_SOURCE), 0, 'nothing of it was published')
  const fits = await app.inject({ method: 'POST', url: '/v1/events', headers, payload: batch.slice(0, MAX_EVENTS_PER_REQUEST) })
  t.equal(fits.statusCode, 202, 'a batch at the limit is taken')
})
