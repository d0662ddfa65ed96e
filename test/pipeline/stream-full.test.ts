import t from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { eventually, readSubject, startTestFabric, storedOn } from '../fixtures/fabric.ts'

// A pipeline whose outputs meet a full events stream: each refused output is retried, its source
// event stays unacknowledged and is never dead-lettered for it, and once there is room every
// event has exactly one output.

t.setTimeout(120_000)

const SOURCE = 'omni.evt.test.note-created.v1'
const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [${SOURCE}]
errorPolicy: { maxDeliveries: 2, backoff: [50ms] }
stages:
  - { id: rec, uses: test.record }
outputs:
  - subject: ${OUT}
`

t.test('outputs refused by a full stream are retried until there is room, then stored once each; nothing is dead-lettered', async (t) => {
  const { fabric, settled } = await startTestFabric(t, PIPELINE, { streams: { maxBytes: 24 * 1024 } })
  const catalog = fabric.catalog()
  // the stage sleeps, so the sources fill the stream before any output is attempted
  let stored = 0
  for (let i = 0; i < 200; i++) {
    const r = await publishEvent(fabric.publisher, catalog, { type: 'note.created', data: { noteId: `n${i}`, text: 'z'.repeat(300), sleepMs: 1000 } }).then(
      () => true,
      (err: unknown) => {
        if (!hasCode(err, 'OMNI_ERR_STREAM_FULL')) throw err
        return false
      },
    )
    if (!r) break
    stored++
  }
  t.ok(stored > 5 && stored < 200, `${stored} sources fill the stream`)
  t.ok(await eventually(() => settled.some((s) => s.type === 'retry' && /OMNI_ERR_STREAM_FULL/.test(JSON.stringify(s))), 15_000), 'an output was refused and retried')
  t.equal(await storedOn(fabric.jsm, OUT), 0, 'no output fits')
  t.equal(settled.filter((s) => s.type === 'acked').length, 0, 'no source event is acknowledged without its output')
  // room comes back
  const config = (await fabric.jsm.streams.info(EVENTS_STREAM)).config
  await fabric.jsm.streams.update(EVENTS_STREAM, { ...config, max_bytes: 4 * 1024 * 1024 })
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, OUT)) === stored, 30_000), 'every event gets its output')
  const outputs = await readSubject(fabric, OUT)
  t.equal(new Set(outputs.map((o) => (o['data'] as { noteId: string }).noteId)).size, stored, 'one per event')
  t.equal(outputs.length, stored)
  t.same(await listDeadLetters(fabric.jsm, fabric.js), [], 'nothing dead-lettered')
})
