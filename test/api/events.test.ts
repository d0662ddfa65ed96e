import t from 'tap'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually } from '../fixtures/fabric.ts'
import { TEST_SOURCE } from '../fixtures/manifests.ts'

t.setTimeout(120_000)

const OUT = 'omni.evt.test.note-seen.v1'

t.test('GET /v1/events pages what was recorded; GET /v1/events/:id answers with the event and its stage outcomes', async (t) => {
  const { app } = await startTestApi(t, { fabric: { clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 5 } } })
  const posted = await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents+json' },
    payload: { specversion: '1.0', id: 'ce-q1', source: 'test://client', type: 'note.created', data: { noteId: 'q1' } },
  })
  t.equal(posted.statusCode, 202, posted.body)
  const get = (url: string) => app.inject({ url, headers: bearer('read') })
  t.ok(await eventually(async () => (await get('/v1/events/ce-q1')).json().events?.length === 2, 20_000), 'the input and its output are recorded')

  const detail = (await get('/v1/events/ce-q1')).json()
  t.same(Object.keys(detail).sort(), ['events', 'outcomes'], 'the stage outcomes are named outcomes')
  t.same(detail.events.map((e: { subject: string }) => e.subject).sort(), [OUT, TEST_SOURCE].sort())
  t.match(detail.outcomes, [{ pipeline: 'notes', stage: 'record', uses: 'test.record', status: 'ok', attempt: 1, streamSeq: Number, durationMs: Number, recordedAt: String }])

  const page = await get('/v1/events?type=note.created&limit=1')
  t.equal(page.statusCode, 200, page.body)
  t.match(page.json(), { events: [{ id: 'ce-q1', type: 'note.created' }], nextCursor: String }, 'one of the two, and a cursor to the other')
  t.equal((await get('/v1/events?limit=0')).statusCode, 400, 'the query string is checked against the schema')
  t.equal((await get('/v1/events/nope')).statusCode, 404)
  t.equal((await get(`/v1/catalog?instance=${'x'.repeat(257)}`)).statusCode, 400, 'the catalog scope too')
})
