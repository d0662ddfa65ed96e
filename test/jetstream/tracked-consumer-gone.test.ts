import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { ensurePipelineConsumer, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { startTrackedConsumer } from '../../src/jetstream/tracked-consumer.ts'
import type { ConsumerFailed } from '../../src/jetstream/report.ts'
import { eventually } from '../fixtures/fabric.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { startTestCluster } from '../fixtures/nats-cluster.ts'

t.setTimeout(60_000)

t.test('a consumer deleted under a running worker fails it (reported), instead of re-pulling every 250 ms for ever', async (t) => {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm)
  const consumer = await ensurePipelineConsumer(jsm, { pipeline: 'gone', sources: ['omni.evt.test.gone.v1'], ackWaitMs: 5000 })
  const reports: ConsumerFailed[] = []
  const tc = await startTrackedConsumer({ js: jetstream(nc), stream: EVENTS_STREAM, consumer, pull: { max_messages: 16 }, handle: async (m) => m.ack(), report: (r) => reports.push(r) })
  t.teardown(() => tc.close())
  await jsm.consumers.delete(EVENTS_STREAM, consumer)
  const failed = await eventually(() => tc.state === 'failed', 40_000)
  t.ok(failed, `the worker fails once its consumer is gone (state ${tc.state} after up to 40 s)`)
  t.equal(reports.length, 1, 'the failure is reported once')
})

t.test('on a cluster too: a consumer deleted under a worker fails it', async (t) => {
  const cluster = await startTestCluster(t)
  const nc = await connectTest(t, cluster)
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm, { maxBytes: 16 * 1024 * 1024, rawMaxBytes: 16 * 1024 * 1024, replicas: 3, mode: 'upsert' })
  const consumer = await ensurePipelineConsumer(jsm, { pipeline: 'gone', sources: ['omni.evt.test.gone.v1'], ackWaitMs: 5000 })
  const reports: ConsumerFailed[] = []
  const tc = await startTrackedConsumer({ js: jetstream(nc), stream: EVENTS_STREAM, consumer, pull: { max_messages: 16 }, handle: async (m) => m.ack(), report: (r) => reports.push(r) })
  t.teardown(() => tc.close())
  await jsm.consumers.delete(EVENTS_STREAM, consumer)
  const failed = await eventually(() => tc.state === 'failed', 40_000)
  t.ok(failed, `the worker fails once its consumer is gone (state ${tc.state}, ${tc.failure ?? 'no failure'})`)
  t.equal(reports.length, 1, 'the failure is reported once')
})
