import t from 'tap'
import { coalescePublishes } from '../../src/jetstream/coalesce.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import type { AckPublisher } from '../../src/jetstream/publisher-types.ts'
import { startTestFabric } from '../fixtures/fabric.ts'
import { NOTES_PIPELINE } from '../fixtures/api.ts'

t.test('publishes of one loop turn go out together, in order, each with its own ack', async (t) => {
  const { fabric } = await startTestFabric(t, NOTES_PIPELINE)
  const calls: string[] = []
  // a real publisher, observed: what reaches it and when
  const real = createPublisher(fabric.nc)
  t.teardown(() => real.close())
  const observed: AckPublisher = { publish: (subject, payload, opts) => (calls.push(opts?.msgID ?? ''), real.publish(subject, payload, opts)) }
  const p = coalescePublishes(observed)
  const acks = Promise.all([1, 2, 3].map((n) => p.publish('omni.evt.test.note-created.v1', new TextEncoder().encode(`{"n":${n}}`), { msgID: `c-${n}`, expectStream: EVENTS_STREAM })))
  t.same(calls, [], 'nothing is sent before the check phase')
  const done = await acks
  t.same(calls, ['c-1', 'c-2', 'c-3'], 'sent in the order asked')
  t.same(done.map((a) => a.duplicate), [false, false, false])
  t.ok(done[0]!.seq < done[1]!.seq && done[1]!.seq < done[2]!.seq, 'stored in that order')
  const again = await p.publish('omni.evt.test.note-created.v1', new TextEncoder().encode('{"n":1}'), { msgID: 'c-1' })
  t.equal(again.duplicate, true, 'a later turn works the same')
})

t.test('a publish that throws at once rejects alone', async (t) => {
  let n = 0
  const flaky: AckPublisher = {
    publish: () => {
      n++
      if (n === 2) throw new Error('closed')
      return Promise.resolve({ stream: 'S', seq: n, duplicate: false })
    },
  }
  const p = coalescePublishes(flaky)
  const results = await Promise.allSettled([1, 2, 3].map(() => p.publish('x', new Uint8Array())))
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.match((results[1] as PromiseRejectedResult).reason, { message: 'closed' })
})
