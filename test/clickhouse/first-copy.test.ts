import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually, startTestFabric } from '../fixtures/fabric.ts'

// omni_events keeps the FIRST copy of an event. A late duplicate (the same idempotency key, stored
// again once the stream's duplicate window has passed) is recorded as a message of its own, and
// guard.dedup drops it; its row must not replace the original's payload, event_id or dataref,
// neither when read with FINAL nor once ClickHouse has merged the parts.

t.setTimeout(120_000)

const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: dedup, uses: guard.dedup }
outputs: []
`

t.test('a late duplicate that guard.dedup drops does not rewrite the stored event', async (t) => {
  const windowMs = 300
  const f = await startTestFabric(t, PIPELINE, { clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 20 }, duplicateWindowMs: windowMs })
  const ch = f.fabric.sink?.ch
  if (!ch) throw new Error('the fabric did not open ClickHouse')
  const publish = (id: string, text: string, dataref: string) => publishEvent(f.fabric.publisher, f.fabric.catalog(), { type: 'note.created', id, dataref, data: { noteId: 'n1', text } })
  const stored = () => rows<{ event_id: string; text: string; dataref: string; stream_seq: string }>(ch, `SELECT event_id, JSONExtractString(payload, 'text') AS text, dataref, stream_seq FROM ${ch.table('omni_events')} FINAL WHERE idempotency_key = 'note.created.v1:n1'`)

  const first = await publish('first-id', 'the original', 'raw:first')
  t.ok(await eventually(async () => f.settled.some((s) => s.type === 'acked' && s.outcome.type === 'done') && (await stored()).length === 1, 20_000), 'the original is processed and recorded')
  // past the duplicate window the stream stores the same key again
  await new Promise((r) => setTimeout(r, windowMs * 3))
  const late = await publish('late-id', 'a late rewrite', 'raw:late')
  t.equal(late.ack.duplicate, false, 'the stream stored the late copy')
  t.ok(await eventually(() => f.settled.some((s) => s.type === 'acked' && s.outcome.type === 'dropped'), 20_000), 'guard.dedup dropped the late copy')
  // the recorder writes the late copy too; wait until both parts are in before reading
  t.ok(await eventually(async () => Number((await rows<{ n: string }>(ch, `SELECT count() AS n FROM ${ch.table('omni_events')} WHERE idempotency_key = 'note.created.v1:n1'`))[0]?.n) === 2, 20_000), 'both copies were written')

  const expected = [{ event_id: 'first-id', text: 'the original', dataref: 'raw:first', stream_seq: String(first.ack.seq) }]
  t.same(await stored(), expected, 'FINAL reads the first copy')
  await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table('omni_events')} FINAL` })
  t.same(await stored(), expected, 'and so does a merged table')
  t.same(await rows(ch, `SELECT event_id FROM ${ch.table('omni_events')} WHERE idempotency_key = 'note.created.v1:n1'`), [{ event_id: 'first-id' }], 'the merge kept only the first copy')
})
