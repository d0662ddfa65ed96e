import t from 'tap'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually } from '../fixtures/fabric.ts'

// The labels stages set (trust and its reason, class, tags, what transform.enrich added) are stored with each stage's
// outcome in omni_stage_outcomes.labels, and the query API finds events by them. Before, they
// lived only while the DAG ran.

t.setTimeout(120_000)

const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - id: trust
    uses: guard.trust
    with: { rules: [{ when: 'has(data.text) && data.text.contains("?")', outcome: flag, reason: a question }] }
  - id: classify
    uses: transform.classify
    needs: [trust]
    with: { rules: [{ when: 'has(data.text)', class: conversation }], default: other }
  - id: enrich
    uses: transform.enrich
    needs: [trust]
    with: { set: { playbook: notes, meta.lane: 2 } }
  - id: tags
    uses: persist.tagging
    needs: [classify]
    with: { rules: [{ when: 'labels.class == "conversation"', tag: chat }, { when: 'has(data.text) && data.text.contains("!")', tag: urgent }] }
outputs: []
`

t.test('labels set by stages are stored and can be queried', async (t) => {
  const { app, settled } = await startTestApi(t, { pipeline: PIPELINE, fabric: { clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 5 } } })
  const post = (noteId: string, text?: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents+json' },
      payload: { specversion: '1.0', id: `ce-${noteId}`, source: 'test://client', type: 'note.created', data: { noteId, ...(text ? { text } : {}) } },
    })
  for (const [id, text] of [['q1', 'is it done?'], ['q2', 'ship it!'], ['q3', undefined]] as const) t.equal((await post(id, text)).statusCode, 202)
  t.ok(await eventually(() => settled.filter((s) => s.type === 'acked').length === 3, 20_000), 'all three processed')
  const get = async (url: string) => {
    const res = await app.inject({ url, headers: bearer('read') })
    t.equal(res.statusCode, 200, res.body)
    return res.json() as { events: { id: string }[]; outcomes?: { stage: string; labels?: Record<string, unknown> }[] }
  }
  const ids = async (query: string) => (await get(`/v1/events?${query}`)).events.map((e) => e.id).sort()
  t.ok(await eventually(async () => (await ids('label=class')).length === 3, 20_000), 'every event has a stored class')

  const detail = await get('/v1/events/ce-q1')
  t.same(detail.outcomes?.map((o) => [o.stage, o.labels]), [
    ['classify', { class: 'conversation' }],
    ['enrich', { enriched: { playbook: 'notes', meta: { lane: 2 } } }],
    ['tags', { tags: ['chat'] }],
    ['trust', { trust: 'flag', trustReason: 'a question' }],
  ], 'each stage outcome carries the labels it set')
  t.same(await ids('label=class=conversation'), ['ce-q1', 'ce-q2'], 'by a string label')
  t.same(await ids('label=class=other'), ['ce-q3'])
  t.same(await ids('label=tags=urgent'), ['ce-q2'], 'by a tag in the list')
  t.same(await ids('label=trust=flag'), ['ce-q1'])
  t.same(await ids('label=trustReason'), ['ce-q1'], 'by a label being set at all')
  t.same(await ids('label=enriched.playbook=notes'), ['ce-q1', 'ce-q2', 'ce-q3'], 'by what an enrichment added (a dotted name)')
  t.same(await ids('label=enriched.meta.lane=2'), ['ce-q1', 'ce-q2', 'ce-q3'])
  t.same(await ids('label=enriched.playbook=other'), [])
  t.same(await ids('label=trust=accept&type=note.created'), ['ce-q2', 'ce-q3'], 'combined with other filters')
  const bad = await app.inject({ url: '/v1/events?label=no%20such=x', headers: bearer('read') })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { error: { code: 'OMNI_ERR_QUERY_INVALID', problems: [{ where: 'filter.label', message: /name or name=value/ }] } })
})
