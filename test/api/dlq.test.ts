import t, { type Test } from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { DLQ_HEADERS } from '../../src/wire/mod.ts'
import { consumerName, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { bearer, FRAGILE_PIPELINE, SEEN_SUBJECT, startTestApi, type TestApi } from '../fixtures/api.ts'
import { eventually, storedOn } from '../fixtures/fabric.ts'
import { TEST_SOURCE } from '../fixtures/manifests.ts'
import { broken } from '../fixtures/test-cartridges.ts'

t.setTimeout(120_000)

const SEEN = SEEN_SUBJECT

/** The API on the fragile pipeline with dead letters for `ids`, in that order. */
async function withDeadLetters(t: Test, ids: string[]): Promise<TestApi> {
  const api = await startTestApi(t, { pipeline: FRAGILE_PIPELINE })
  for (const id of ids) broken.add(id)
  t.teardown(() => void broken.clear())
  for (const id of ids) await publishEvent(api.fabric.publisher, api.fabric.catalog(), { type: 'note.created', data: { noteId: id } })
  t.ok(await eventually(() => api.settled.filter((s) => s.type === 'dead-lettered').length === ids.length), 'the events were dead-lettered')
  return api
}

const list = async (api: TestApi, query = '', scope: 'read' | 'admin' = 'read') => {
  const res = await api.app.inject({ method: 'GET', url: `/v1/dlq${query}`, headers: bearer(scope) })
  return { status: res.statusCode, body: res.json() }
}

t.test('list with the filters of omni dlq list; one with its event; 404 and scopes', async (t) => {
  const api = await withDeadLetters(t, ['d1', 'd2', 'd3'])
  const all = await list(api)
  t.equal(all.status, 200)
  t.match(all.body.deadLetters, [
    { seq: 1, pipeline: 'notes', stage: 'fragile', error: 'note d1 is broken', attempts: 2, type: 'note.created', originalSubject: TEST_SOURCE, originalSeq: 1, failedAt: String },
    { seq: 2, error: 'note d2 is broken', originalSeq: 2 },
    { seq: 3, error: 'note d3 is broken', originalSeq: 3 },
  ])
  t.notOk('data' in all.body.deadLetters[0], 'the list carries metadata, not the bodies')
  t.same((await list(api, '?error=d2')).body.deadLetters.map((l: { seq: number }) => l.seq), [2])
  t.same((await list(api, '?limit=2')).body.deadLetters.map((l: { seq: number }) => l.seq), [1, 2])
  t.equal((await list(api, '?stage=fragile&type=note.created&pipeline=notes')).body.deadLetters.length, 3)
  t.same((await list(api, '?stage=other')).body.deadLetters, [])
  t.same((await list(api, '?type=other.type')).body.deadLetters, [])
  t.same((await list(api, '?pipeline=other')).body.deadLetters, [])
  const badLimit = await list(api, '?limit=0')
  t.equal(badLimit.status, 400)
  t.match(badLimit.body.error, { code: 'OMNI_ERR_BODY_INVALID', problems: [{ where: 'query.limit' }] })
  t.equal((await list(api, '?colour=red')).status, 400, 'an unknown filter is refused, not ignored')

  const one = await api.app.inject({ method: 'GET', url: '/v1/dlq/2', headers: bearer('read') })
  t.equal(one.statusCode, 200)
  t.match(one.json(), { deadLetter: { seq: 2, stage: 'fragile', error: 'note d2 is broken' }, event: { type: 'note.created', data: { noteId: 'd2' } } })
  const gone = await api.app.inject({ method: 'GET', url: '/v1/dlq/99', headers: bearer('read') })
  t.equal(gone.statusCode, 404)
  t.equal(gone.json().error.code, 'OMNI_ERR_NOT_FOUND')
  t.equal((await api.app.inject({ method: 'GET', url: '/v1/dlq/x', headers: bearer('read') })).statusCode, 400)
  t.equal((await api.app.inject({ method: 'GET', url: '/v1/dlq' })).statusCode, 401)
  t.equal((await api.app.inject({ method: 'GET', url: '/v1/dlq', headers: bearer('ingest') })).statusCode, 403)
})

t.test('redrive: dry run changes nothing; a real one sends each dead letter back once; safe to repeat', async (t) => {
  const api = await withDeadLetters(t, ['r1', 'r2', 'r3'])
  const redrive = (body: Record<string, unknown>, scope: 'admin' | 'read' = 'admin') =>
    api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer(scope), payload: body })

  const forbidden = await redrive({}, 'read')
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().error.code, 'OMNI_ERR_FORBIDDEN')
  t.equal((await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', payload: {} })).statusCode, 401)
  t.equal((await redrive({ dryRun: 'yes' })).statusCode, 400, 'the body is checked')

  const dry = await redrive({ dryRun: true })
  t.equal(dry.statusCode, 200, dry.body)
  t.match(dry.json(), { dryRun: true, matched: 3, redriven: 0, duplicates: 0, deadLetters: [{ seq: 1 }, { seq: 2 }, { seq: 3 }] })
  t.equal((await list(api)).body.deadLetters.length, 3, 'a dry run leaves the dead letters')
  t.equal(await storedOn(api.fabric.jsm, SEEN), 0, 'and sends nothing')

  broken.clear()
  const first = await redrive({ error: 'r2' })
  t.match(first.json(), { dryRun: false, matched: 1, redriven: 1, duplicates: 0, deadLetters: [{ seq: 2, error: 'note r2 is broken' }] })
  t.same((await list(api)).body.deadLetters.map((l: { seq: number }) => l.seq), [1, 3], 'a redriven dead letter leaves the DLQ')
  t.equal((await api.app.inject({ method: 'GET', url: '/v1/dlq/2', headers: bearer('read') })).statusCode, 404)

  const rest = await redrive({ pipeline: 'notes', limit: 5 })
  t.match(rest.json(), { matched: 2, redriven: 2, deadLetters: [{ seq: 1 }, { seq: 3 }] })
  t.match((await redrive({})).json(), { matched: 0, redriven: 0, duplicates: 0, deadLetters: [] }, 'repeating redrives nothing')
  t.ok(await eventually(async () => (await storedOn(api.fabric.jsm, SEEN)) === 3), 'each redriven event went through its pipeline')
  t.ok(await eventually(() => api.settled.filter((s) => s.type === 'acked').length === 3), 'exactly once each')
  t.equal(await storedOn(api.fabric.jsm, SEEN), 3)
})

t.test('redrive refuses dead letters of a pipeline that no longer runs, and redrives none of the batch', async (t) => {
  const api = await withDeadLetters(t, ['k1'])
  broken.clear()
  const body = Buffer.from(JSON.stringify({ type: 'note.created' }))
  await api.fabric.publisher.publish('omni.dlq.gone', body, {
    msgID: 'gone-1',
    headers: { [DLQ_HEADERS.pipeline]: 'gone', [DLQ_HEADERS.stage]: 's', [DLQ_HEADERS.error]: 'e', [DLQ_HEADERS.attempts]: '1' },
  })
  const refused = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer('admin'), payload: {} })
  t.equal(refused.statusCode, 409)
  t.match(refused.json().error, { code: 'OMNI_ERR_CONFLICT', message: /dead letter\(s\) 2 belong to pipeline "gone", which is not running .* nothing was redriven/ })
  // the operator's token: a body without a tenant is no tenant's, so only it sees that letter
  t.equal((await list(api, '', 'admin')).body.deadLetters.length, 2, 'both dead letters stay, also the one whose pipeline runs')
  const dry = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer('admin'), payload: { dryRun: true, pipeline: 'gone' } })
  t.match(dry.json(), { matched: 1, deadLetters: [{ pipeline: 'gone' }] }, 'a dry run still lists them')
  const others = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer('admin'), payload: { pipeline: 'notes' } })
  t.match(others.json(), { matched: 1, redriven: 1 }, 'filtering by a running pipeline redrives its own')
  t.ok(await eventually(async () => (await storedOn(api.fabric.jsm, SEEN)) === 1))
})

t.test('redrive refuses dead letters of a pipeline deleted through the API, though its consumer is kept', async (t) => {
  const api = await withDeadLetters(t, ['x1'])
  broken.clear()
  const removed = await api.app.inject({ method: 'DELETE', url: '/v1/pipelines/notes', headers: bearer('admin') })
  t.equal(removed.statusCode, 200, removed.body)
  t.ok(await api.fabric.jsm.consumers.info(EVENTS_STREAM, consumerName('notes')), 'its durable consumer is still there')

  const refused = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: bearer('admin'), payload: { pipeline: 'notes' } })
  t.equal(refused.statusCode, 409, refused.body)
  t.match(refused.json().error, { code: 'OMNI_ERR_CONFLICT', message: /dead letter\(s\) 1 belong to pipeline "notes", which is not running .* nothing was redriven/ })
  t.match((await list(api)).body.deadLetters, [{ seq: 1, pipeline: 'notes', error: 'note x1 is broken' }], 'the dead letter stays')
  t.equal((await api.app.inject({ method: 'GET', url: '/v1/dlq/1', headers: bearer('read') })).statusCode, 200)
})
