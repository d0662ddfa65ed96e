import t from 'tap'
import { getEvent, queryEvents } from '../../src/clickhouse/query.ts'
import { eventRow } from '../../src/clickhouse/rows.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import { openTestClickHouse } from '../fixtures/clickhouse.ts'

// omni_events.origin_node keeps the envelope's `origin` (the mesh node an event was received
// from), apart from the `origin` column (its way in, `mesh:<node>` for a received event).
t.test('a received event is stored and shown with the node it came from', async (t) => {
  const ch = await openTestClickHouse(t)
  const base: Envelope = { specversion: '1.0', id: 'own', source: 's', type: 'message.received', time: '2026-12-07T10:00:00.000Z', data: { text: 'hi' }, tenant: 't1', visibility: 'cluster', idempotencykey: 'k1' }
  const received: Envelope = { ...base, id: 'rcv', idempotencykey: 'k2', origin: 'a1' }
  await ch.client.insert({
    table: ch.table('omni_events'),
    values: [
      eventRow(base, { subject: 'omni.evt.ingest.message-received.v1', seq: 1, emittedBy: '', pipelines: [] }),
      eventRow(received, { subject: 'omni.rcv.cluster.a.a1.ingest.message-received.v1', seq: 2, emittedBy: '', pipelines: ['from-mesh'], origin: 'mesh:a1' }),
    ],
    format: 'JSONEachRow',
  })
  const detail = await getEvent(ch, 'rcv')
  t.match(detail?.events, [{ id: 'rcv', originNode: 'a1', origin: 'mesh:a1' }], 'GET /v1/events/:id shows the origin node beside the way in')
  const own = await getEvent(ch, 'own')
  t.equal(own?.events[0]?.originNode, undefined, "this node's own event has none")
  const page = await queryEvents(ch, { limit: 10 })
  t.same(page.events.map((e) => [e.id, e.originNode]), [['rcv', 'a1'], ['own', undefined]])
  t.same((await queryEvents(ch, { originNode: 'a1' })).events.map((e) => e.id), ['rcv'], 'filtered by origin node')
  t.same((await queryEvents(ch, { originNode: 'a2' })).events, [], 'another node: none')
})
