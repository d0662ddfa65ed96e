import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { ensurePipelineConsumer, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { startTrackedConsumer, type TrackedConsumerOptions } from '../../src/jetstream/tracked-consumer.ts'
import { eventually } from '../fixtures/fabric.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

t.setTimeout(60_000)

const SUBJECT = 'omni.evt.test.tracked.v1'

/** A server with the streams, a durable consumer on SUBJECT, and `n` messages waiting on it. */
async function start(t: Test, n: number) {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm)
  const consumer = await ensurePipelineConsumer(jsm, { pipeline: 'tracked', sources: [SUBJECT], ackWaitMs: 5000 })
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  for (let i = 0; i < n; i++) await publisher.publish(SUBJECT, new TextEncoder().encode(String(i)), { msgID: `m${i}` })
  const base = { js: jetstream(nc), stream: EVENTS_STREAM, consumer, pull: { max_messages: 16 } }
  return { nc, jsm, consumer, base }
}

const pending = async (h: Awaited<ReturnType<typeof start>>) => {
  const info = await h.jsm.consumers.info(EVENTS_STREAM, h.consumer)
  return info.num_pending + info.num_ack_pending
}

t.test('messages of one turn start together; close() waits for them, once, and the state says so', async (t) => {
  const h = await start(t, 20)
  const turns: number[][] = []
  let current: number[] | undefined
  const release = Promise.withResolvers<void>()
  const kept: number[] = []
  const handle: TrackedConsumerOptions['handle'] = async (m, keepAlive) => {
    if (!current) {
      current = []
      turns.push(current)
      setImmediate(() => (current = undefined))
    }
    current.push(m.info.streamSequence)
    kept.push(await keepAlive(m, Promise.resolve(m.info.streamSequence)))
    await release.promise
    m.ack()
  }
  const tc = await startTrackedConsumer({ ...h.base, handle })
  t.equal(tc.state, 'running')
  t.ok(await eventually(() => tc.inFlight() === 20), 'all twenty in flight')
  t.ok(turns.length < 20, `handed over in ${turns.length} turns, not one per message`)
  t.same(kept.sort((a, b) => a - b), turns.flat().sort((a, b) => a - b), 'keepAlive hands back what it waited for')

  const closing = tc.close()
  t.equal(tc.close(), closing, 'the same promise on every call')
  t.equal(tc.state, 'draining')
  let closed = false
  void tc.closed().then(() => (closed = true))
  await new Promise((r) => setTimeout(r, 100))
  t.notOk(closed, 'closed() waits for the handlers in flight')
  release.resolve()
  await closing
  await tc.closed()
  t.equal(tc.state, 'stopped')
  t.equal(tc.inFlight(), 0)
  t.ok(await eventually(async () => (await pending(h)) === 0), 'every message was acknowledged')
  await tc[Symbol.asyncDispose]()
})

t.test('a handler that throws or rejects: onError settles the message, the loop goes on', async (t) => {
  const h = await start(t, 3)
  const errors: string[] = []
  const tc = await startTrackedConsumer({
    ...h.base,
    handle: (m) => {
      const seq = m.info.streamSequence
      if (seq === 1) throw new Error('at once')
      if (seq === 2) return Promise.reject(new Error('later'))
      m.ack()
      return Promise.resolve()
    },
    onError: (m: JsMsg, err: unknown) => {
      errors.push((err as Error).message)
      m.term()
    },
  })
  t.teardown(() => tc.close())
  t.ok(await eventually(async () => (await pending(h)) === 0 && errors.length === 2))
  t.same(errors.sort(), ['at once', 'later'])
})

t.test('without onError a failing message comes back after the default backoff', async (t) => {
  const h = await start(t, 1)
  let deliveries = 0
  const tc = await startTrackedConsumer({
    ...h.base,
    handle: async (m) => {
      if (++deliveries === 1) throw new Error('a bug')
      m.ack()
    },
  })
  t.teardown(() => tc.close())
  t.ok(await eventually(async () => deliveries === 2 && (await pending(h)) === 0, 10_000), 'redelivered and then acknowledged')
})

t.test('a consumer that stops on its own is failed, says why, and stays failed through close()', async (t) => {
  const h = await start(t, 0)
  const reasons: string[] = []
  const tc = await startTrackedConsumer({ ...h.base, handle: async (m) => m.ack(), report: (r) => reasons.push(r.reason) })
  await h.nc.close()
  await tc.closed()
  t.equal(tc.state, 'failed')
  t.equal(reasons.length, 1, 'reported once')
  t.equal(tc.failure, reasons[0])
  await tc.close()
  t.equal(tc.state, 'failed', 'close() does not hide the failure')
})
