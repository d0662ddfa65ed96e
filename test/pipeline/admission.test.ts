import t from 'tap'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { CATALOG_STAGE, ORIGIN_STAGE } from '../../src/pipeline/worker.ts'
import { eventually, readSubject, startTestFabric } from '../fixtures/fabric.ts'

// A producer that publishes straight onto NATS skips HTTP ingest and its checks. The worker
// checks such events against the catalog as ingest would (type, data schema, visibility) and
// dead-letters an invalid one with the reason, before any stage sees it.

t.setTimeout(60_000)

const SOURCE = 'omni.evt.test.note-created.v1'
const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [${SOURCE}]
stages:
  - { id: rec, uses: test.record }
outputs:
  - subject: ${OUT}
`

const envelope = (id: string, extra: Record<string, unknown>) => ({
  specversion: '1.0',
  id,
  source: 'nats-producer',
  type: 'note.created',
  time: '2026-12-07T00:00:00Z',
  tenant: 't1',
  visibility: 'local',
  idempotencykey: `k-${id}`,
  data: { noteId: id },
  ...extra,
})

t.test('an event a producer publishes straight onto NATS is checked against the catalog', async (t) => {
  const { fabric, settled } = await startTestFabric(t, PIPELINE)
  const publish = (id: string, extra: Record<string, unknown> = {}) => fabric.publisher.publish(SOURCE, Buffer.from(JSON.stringify(envelope(id, extra))), { msgID: `in:k-${id}` })
  await publish('unknown', { type: 'note.unheard-of' })
  await publish('no-data', { data: { text: 'no id' } })
  await publish('wide', { visibility: 'public' })
  await publish('good')
  t.ok(await eventually(() => settled.filter((s) => s.type === 'dead-lettered').length === 3 && settled.some((s) => s.type === 'acked')), 'three dead letters, one processed')
  const letters = await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes' })
  t.same(letters.map((l) => [l.stage, l.attempts]), [[CATALOG_STAGE, 1], [CATALOG_STAGE, 1], [CATALOG_STAGE, 1]], 'dead-lettered at once, before any stage')
  t.match(letters.map((l) => l.error), [
    /event type "note\.unheard-of" is not in the catalog/,
    /invalid note\.created event: \$\.data\.noteId: is required/,
    /\$\.visibility: may be at most "local" for note\.created/,
  ])
  t.same((await readSubject(fabric, OUT)).map((o) => (o['data'] as { noteId: string }).noteId), ['good'], 'only the valid event reached the stages')
})

t.test('origin is believed only from the mesh receiver: under omni.rcv.> and naming that node', async (t) => {
  const MESH = `kind: Pipeline
name: received
sources: [{ mesh: cluster, types: [note.created] }]
stages: []
`
  const { fabric, settled } = await startTestFabric(t, PIPELINE, { files: { 'pipelines/m.yaml': MESH } })
  const publish = (subject: string, id: string, extra: Record<string, unknown> = {}) => fabric.publisher.publish(subject, Buffer.from(JSON.stringify(envelope(id, { visibility: 'local', ...extra }))), { msgID: `in:k-${id}` })
  const RECEIVED = 'omni.rcv.cluster.a.a1.test.note-created.v1'
  await publish(SOURCE, 'own-with-origin', { origin: 'a1' })
  await publish(RECEIVED, 'no-origin')
  await publish(RECEIVED, 'other-origin', { origin: 'a2' })
  await publish(RECEIVED, 'right-origin', { origin: 'a1' })
  t.ok(await eventually(() => settled.filter((s) => s.type === 'dead-lettered').length === 3 && settled.some((s) => s.type === 'acked')), 'three dead letters, one processed')
  const letters = [...(await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes' })), ...(await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'received' }))]
  t.same(letters.map((l) => l.stage), [ORIGIN_STAGE, ORIGIN_STAGE, ORIGIN_STAGE])
  t.match(letters.map((l) => l.error), [/origin "a1": origin is set by the receiving node/, /received from a1, but the event's origin is not set/, /received from a1, but the event's origin is "a2"/])
})
