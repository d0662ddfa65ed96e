// An event held in its stages longer than ack_wait (queued behind a sandbox's other calls, which
// no longer count against its time limit) must not be delivered again while it still runs.
import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { eventually, startTestFabric, storedOn } from '../fixtures/fabric.ts'
import { recorded } from '../fixtures/test-cartridges.ts'

const OUT = 'omni.evt.test.note-seen.v1'

t.test('an event that runs longer than ack_wait is kept alive: one delivery, one run, one ack', async (t) => {
  // 3 s in a stage whose limit allows it, under an ack_wait of 1 s
  const { fabric, settled } = await startTestFabric(
    t,
    `kind: Pipeline
name: held
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: slow, uses: test.record, timeout: 10s, with: { ms: 3000 } }
outputs:
  - subject: ${OUT}
`,
    { ackWaitMs: 1000 },
  )
  const sent = await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'held' } })
  t.ok(await eventually(() => settled.some((s) => s.type === 'acked'), 10_000), 'acknowledged')
  // a redelivery would have started a second run by now; give a late one time to show up
  await new Promise((r) => setTimeout(r, 1500))
  t.equal(recorded.filter((r) => r.stage === 'slow' && r.event === sent.event.id).length, 1, 'the stage ran once: no redelivery while the first delivery still ran')
  t.same(
    settled.map((s) => s.type),
    ['acked'],
    'settled once',
  )
  t.equal(await storedOn(fabric.jsm, OUT), 1)
})
