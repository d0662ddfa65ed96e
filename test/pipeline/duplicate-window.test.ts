import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { DEFAULT_ACK_WAIT_MS, DEFAULT_DUPLICATE_WINDOW_MS, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { duplicateWindowWarning, requiredDuplicateWindowMs } from '../../src/pipeline/duplicate-window.ts'
import { OUTPUTS_RETRY_MAX_MS } from '../../src/pipeline/worker.ts'
import { eventually, startTestFabric } from '../fixtures/fabric.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

t.test('the default duplicate window covers a redelivery after a crash; a shorter one is said at start', async (t) => {
  t.ok(requiredDuplicateWindowMs(DEFAULT_ACK_WAIT_MS) <= DEFAULT_DUPLICATE_WINDOW_MS, 'the defaults (ack_wait and window) hold')
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  await ensureStreams(jsm, { mode: 'upsert' })
  t.equal(await duplicateWindowWarning(jsm, 30_000), undefined, 'nothing to say with the defaults')
  await ensureStreams(jsm, { mode: 'upsert', duplicateWindowMs: 20_000 })
  t.match(await duplicateWindowWarning(jsm, 30_000), /duplicate window of 20000 ms, shorter than the 37000 ms .* could be stored twice/, 'a 20 s window under a 30 s ack_wait is named')
  // a stream an earlier version made keeps its 2 min window: the replay bound is read from the stream, not the options
  await ensureStreams(jsm, { mode: 'upsert', duplicateWindowMs: 120_000 })
  const replay = { ms: 600_000, why: 'twice the accepted age of a signed webhook timestamp' }
  t.match(await duplicateWindowWarning(jsm, 30_000, replay), /duplicate window of 120000 ms, shorter than 600000 ms: twice the accepted age of a signed webhook timestamp/)
  t.equal(await duplicateWindowWarning(jsm, 30_000), undefined, 'which the redelivery bound alone does not ask for')
})

t.test('outputs that failed to publish are retried inside the duplicate window, whatever the backoff', async (t) => {
  const f = await startTestFabric(
    t,
    `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 5, backoff: [10m] }
stages:
  - { id: rec, uses: test.record }
outputs:
  - subject: omni.evt.test.note-seen.v1
`,
  )
  // the stream takes the input, then refuses the output (full, discarding new): a failure that may pass
  const info = await f.fabric.jsm.streams.info(EVENTS_STREAM)
  await f.fabric.jsm.streams.update(EVENTS_STREAM, { ...info.config, max_msgs: info.state.messages + 1, discard: DiscardPolicy.New })
  await publishEvent(f.fabric.publisher, f.fabric.catalog(), { type: 'note.created', data: { noteId: 'full' } })
  t.ok(await eventually(() => f.settled.some((s) => s.type === 'retry'), 10_000), 'the event is retried')
  const retry = f.settled.find((s) => s.type === 'retry')
  t.match(retry, { stage: 'outputs', delayMs: OUTPUTS_RETRY_MAX_MS }, `after ${OUTPUTS_RETRY_MAX_MS} ms, not the 10 min backoff`)
})
