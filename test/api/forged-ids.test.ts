// Issue 12, section 1: a client holding only the ingest scope sends idempotency keys shaped like
// internal message ids. Before ids had namespaces, each attack below lost or suppressed a real
// message; each test fails on that code and passes now.
import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { DLQ_STREAM } from '../../src/jetstream/topology.ts'
import { ingestMsgId, NATS_HEADERS } from '../../src/wire/mod.ts'
import { bearer, FRAGILE_PIPELINE, SEEN_SUBJECT, startTestApi } from '../fixtures/api.ts'
import { eventually, readSubject, storedOn } from '../fixtures/fabric.ts'
import { broken } from '../fixtures/test-cartridges.ts'

t.setTimeout(120_000)

const SEEN = SEEN_SUBJECT

const ingest = (api: Awaited<ReturnType<typeof startTestApi>>, noteId: string, idempotencykey?: string) =>
  api.app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents+json' },
    payload: JSON.stringify({
      specversion: '1.0',
      id: `e-${noteId}`,
      source: 'test',
      type: 'note.created',
      data: { noteId },
      ...(idempotencykey ? { idempotencykey } : {}),
    }),
  })

t.test("a key shaped like a future output's id cannot pre-empt that output", async (t) => {
  const api = await startTestApi(t, { pipeline: FRAGILE_PIPELINE })
  // the attacker knows the real event's key (derived from data.noteId) and the pipeline's output
  const forged = await ingest(api, 'attacker', `note.created.v1:real@notes@${SEEN}`)
  t.equal(forged.statusCode, 202, forged.body)
  t.equal((await ingest(api, 'real')).statusCode, 202)
  t.ok(await eventually(async () => (await storedOn(api.fabric.jsm, SEEN)) === 2), 'both events have their output')
  const outputs = await readSubject(api.fabric, SEEN)
  t.same(outputs.map((o) => (o['data'] as { noteId: string }).noteId).sort(), ['attacker', 'real'], "the real event's output was stored, not dropped as a duplicate")
})

t.test("a key shaped like a redrive's id cannot make the redrive look done and lose the dead letter", async (t) => {
  const api = await startTestApi(t, { pipeline: FRAGILE_PIPELINE })
  broken.add('d1')
  t.teardown(() => void broken.clear())
  await publishEvent(api.fabric.publisher, api.fabric.catalog(), { type: 'note.created', data: { noteId: 'd1' } })
  t.ok(await eventually(() => api.settled.some((s) => s.type === 'dead-lettered')), 'dead-lettered as DLQ seq 1')
  // the attacker plants the id the redrive of dead letter 1 will use
  t.equal((await ingest(api, 'x', 'redrive:notes:1')).statusCode, 202)
  broken.clear()
  const res = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: { ...bearer('admin'), 'content-type': 'application/json' }, payload: '{}' })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { redriven: 1, duplicates: 0 }, 'the redrive was stored')
  t.ok(await eventually(async () => (await readSubject(api.fabric, SEEN)).some((o) => (o['data'] as { noteId: string }).noteId === 'd1')), 'the redriven event went through its pipeline')
})

t.test('a redrive answered "already stored" by a message that is not the letter leaves the letter in the DLQ', async (t) => {
  const api = await startTestApi(t, { pipeline: FRAGILE_PIPELINE })
  broken.add('d2')
  t.teardown(() => void broken.clear())
  await publishEvent(api.fabric.publisher, api.fabric.catalog(), { type: 'note.created', data: { noteId: 'd2' } })
  t.ok(await eventually(() => api.settled.some((s) => s.type === 'dead-lettered')))
  // something with NATS access stores other bytes under the redrive's id first
  await api.fabric.publisher.publish('omni.redrive.notes', Buffer.from('{"not":"the letter"}'), { msgID: 'redrive:notes:1' })
  const res = await api.app.inject({ method: 'POST', url: '/v1/dlq/redrive', headers: { ...bearer('admin'), 'content-type': 'application/json' }, payload: '{}' })
  t.equal(res.statusCode, 409, res.body)
  t.match(res.json(), { error: { code: 'OMNI_ERR_CONFLICT', message: /is not this letter; it stays in the DLQ/ } })
  t.ok(await api.fabric.jsm.streams.getMessage(DLQ_STREAM, { seq: 1 }), 'the dead letter is still there')
})

t.test('ingested events are stored under the ingest namespace', async (t) => {
  const api = await startTestApi(t, { pipeline: FRAGILE_PIPELINE })
  const res = await ingest(api, 'n1', 'my-key')
  t.equal(res.statusCode, 202)
  const stored = await api.fabric.jsm.streams.getMessage('OMNI_EVENTS', { seq: (res.json() as { seq: number }).seq })
  t.equal(stored?.header?.get(NATS_HEADERS.msgId), ingestMsgId('default', 'my-key'))
  t.equal(ingestMsgId('default', 'my-key'), 'in:7.default:my-key')
})

// Issue 12, section 1, last piece: guard.dedup markers. They outlive the stream's duplicate
// window (24 hours by default); before they were kept per origin, a client could plant one for
// an event that reaches the pipeline another way (here a relay pipeline's output).
const RELAY_CATALOG = `kind: EventCatalog
producer: test
events:
  - type: note.created
    version: 1
    required: [noteId]
    schema: { properties: { noteId: { type: string, minLength: 1 } } }
    idempotency: [data.noteId]
  - type: note.imported
    version: 1
    required: [noteId]
    schema: { properties: { noteId: { type: string, minLength: 1 } } }
    idempotency: [data.noteId]
`
const DEDUP_NOTES = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: dedup, uses: guard.dedup }
outputs:
  - subject: ${SEEN}
`
// hands imported notes on to the notes pipeline, keeping their key
const RELAY = `kind: Pipeline
name: relay
sources: [omni.evt.test.note-imported.v1]
stages: []
outputs:
  - subject: omni.evt.test.note-created.v1
`

t.test('a key a client chose cannot plant a guard.dedup marker for an event that arrives another way', async (t) => {
  const windowMs = 300
  const api = await startTestApi(t, { pipeline: DEDUP_NOTES, fabric: { catalog: RELAY_CATALOG, files: { 'pipelines/relay.yaml': RELAY }, duplicateWindowMs: windowMs } })
  // the attacker knows the key the imported note will have, and sends it first with the ingest scope
  const forged = await ingest(api, 'attacker', 'note.imported.v1:n9')
  t.equal(forged.statusCode, 202, forged.body)
  t.ok(await eventually(async () => (await storedOn(api.fabric.jsm, SEEN)) === 1), 'the forged event went through, and its marker is set')
  // once the stream's duplicate window is over, only the marker stands in the real event's way
  await new Promise((r) => setTimeout(r, windowMs * 3))
  await publishEvent(api.fabric.publisher, api.fabric.catalog(), { type: 'note.imported', data: { noteId: 'n9' } })
  t.ok(await eventually(async () => (await storedOn(api.fabric.jsm, SEEN)) === 2), 'the relayed real event reached its output')
  const outputs = await readSubject(api.fabric, SEEN)
  t.same(outputs.map((o) => (o['data'] as { noteId: string }).noteId).sort(), ['attacker', 'n9'], 'the real event was not dropped as a duplicate of the forged one')
  t.notOk(api.settled.some((s) => s.type === 'acked' && s.outcome.type === 'dropped'), 'guard.dedup dropped nothing')
})
