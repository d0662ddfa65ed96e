// A pipeline's output of a received event is this node's own event: it leaves the received
// `origin` behind and is exported by its visibility (found by the review of issue 13: it used to
// keep the peer's origin, so it was never exported and was recorded as the peer's).
import t from 'tap'
import type { Envelope } from '../../src/envelope/schema.ts'
import type { EventCatalog } from '../../src/catalog/catalog.ts'
import { exportDecision } from '../../src/mesh/exporter.ts'
import { executePipeline } from '../../src/pipeline/executor.ts'
import { compileText } from '../fixtures/manifests.ts'

t.test('an output of a received event is this node\'s own: no origin, exported by its visibility', async (t) => {
  const pipeline = compileText('kind: Pipeline\nname: p\nsources: [{ mesh: cluster, types: [note.created] }]\nstages: []\noutputs:\n  - subject: omni.evt.app.note-created.v1\n')
  const received: Envelope = { specversion: '1.0', id: 'e1', source: 's', type: 'note.created', time: '2026-12-07T00:00:00Z', data: { noteId: 'n' }, tenant: 't', visibility: 'cluster', idempotencykey: 'k', origin: 'a1' }
  const catalog = { get: () => ({ visibility: 'public', fanout: [], dataProblems: () => [] }) } as unknown as EventCatalog
  const outcome = await executePipeline(pipeline, received, { catalog, services: { now: Date.now } as never, attempt: 1 })
  t.equal(outcome.type, 'done')
  const emission = outcome.type === 'done' ? outcome.emissions[0] : undefined
  t.equal(emission?.subject, 'omni.evt.app.note-created.v1')
  t.equal(emission?.event.origin, undefined, "the output is a2's own event: no origin")
  const decision = exportDecision(emission!.subject, new TextEncoder().encode(JSON.stringify(emission!.event)), catalog)
  t.same(decision, { type: 'export', vis: 'cluster' }, 'the output is exported by its visibility')
})
