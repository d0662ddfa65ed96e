import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { kvStream } from '../../src/jetstream/replicas.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { ensureStreams, EVENTS_STREAM, reconcileReplicas } from '../../src/jetstream/topology.ts'
import { connectTest } from '../fixtures/nats.ts'
import { startTestCluster } from '../fixtures/nats-cluster.ts'

// Raising the replica count must change the count only: the data and every other setting stay.
const cluster = await startTestCluster(t)
const nc = await connectTest(t, cluster)
const jsm = await jetstreamManager(nc)
const LIMITS = { maxBytes: 64 * 1024 * 1024, rawMaxBytes: 64 * 1024 * 1024 }

t.test('a KV bucket raised to 3 keeps its keys, history and TTL', async (t) => {
  const js = jetstream(nc)
  const kv = await new Kvm(js).create('omni-keep', { history: 5, ttl: 3_600_000 })
  for (let i = 0; i < 3; i++) await kv.put('k', `v${i}`)
  const before = (await jsm.streams.info(kvStream('omni-keep'))).config
  t.same(await reconcileReplicas(jsm, [kvStream('omni-keep')], 3), [`stream ${kvStream('omni-keep')}: replicas raised from 1 to 3 as configured`])
  const after = (await jsm.streams.info(kvStream('omni-keep'))).config
  t.equal(after.num_replicas, 3)
  for (const k of ['max_msgs_per_subject', 'max_age', 'subjects', 'allow_rollup_hdrs', 'deny_delete', 'allow_direct', 'discard', 'max_bytes'] as const) t.same(after[k], before[k], `${k} kept`)
  const history: string[] = []
  for await (const e of await kv.history({ key: 'k' })) history.push(e.string())
  t.same(history, ['v0', 'v1', 'v2'], 'its history is kept')
})

t.test('the events stream raised while events are published: every acknowledged event is in it, and its settings are kept', async (t) => {
  for await (const name of jsm.streams.names()) if (!name.startsWith('KV_')) await jsm.streams.delete(name)
  await ensureStreams(jsm, { ...LIMITS, mode: 'upsert' })
  const before = (await jsm.streams.info(EVENTS_STREAM)).config
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  const acked: string[] = []
  const retries: string[] = []
  let stop = false
  const flow = (async () => {
    // bounded: at most 2000 events, whatever the raise takes
    for (let i = 0; i < 2000 && !stop; i++) {
      // as the platform does: an unanswered publish is sent again with the same id (at most 5 times)
      for (let attempt = 1; ; attempt++) {
        try {
          await publisher.publish('omni.evt.test.raise.v1', new TextEncoder().encode(String(i)), { msgID: `r${i}` })
          break
        } catch (err) {
          if (attempt === 5) throw err
          retries.push(`r${i}: ${(err as Error).message}`)
        }
      }
      acked.push(`r${i}`)
    }
  })()
  while (acked.length < 200) await new Promise((r) => setTimeout(r, 10))
  const w = await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' })
  t.ok(w.includes(`stream ${EVENTS_STREAM}: replicas raised from 1 to 3 as configured`), w.join('\n'))
  const acksAtRaise = acked.length
  while (acked.length < acksAtRaise + 200 && acked.length < 2000) await new Promise((r) => setTimeout(r, 10))
  stop = true
  await flow
  t.comment(`${retries.length} publish(es) sent again: ${retries.join('; ')}`)
  const info = await jsm.streams.info(EVENTS_STREAM)
  t.equal(info.config.num_replicas, 3)
  t.equal(info.state.messages, acked.length, `every acknowledged event stored (${acked.length}, ${acksAtRaise} before the raise finished)`)
  for (const k of ['subjects', 'max_bytes', 'max_age', 'discard', 'duplicate_window', 'max_msg_size', 'allow_direct', 'retention'] as const) t.same(info.config[k], before[k], `${k} kept`)
})

t.test('a stream with sources (as a mesh inbox) raised to 3 keeps its sources, its copies and goes on copying', async (t) => {
  await jsm.streams.add({ name: 'KEEP_ORIGIN', subjects: ['keep.origin.>'], num_replicas: 1 })
  await jsm.streams.add({ name: 'KEEP_INBOX', num_replicas: 1, sources: [{ name: 'KEEP_ORIGIN', filter_subject: 'keep.origin.>' }] })
  const js = jetstream(nc)
  for (let i = 0; i < 10; i++) await js.publish(`keep.origin.${i}`, String(i))
  const copied = async (n: number) => {
    // bounded: 10 s
    for (let i = 0; i < 200; i++) {
      if ((await jsm.streams.info('KEEP_INBOX')).state.messages === n) return true
      await new Promise((r) => setTimeout(r, 50))
    }
    return false
  }
  t.ok(await copied(10), 'the inbox copied the first ten')
  const before = (await jsm.streams.info('KEEP_INBOX')).config
  t.same(await reconcileReplicas(jsm, ['KEEP_INBOX'], 3), ['stream KEEP_INBOX: replicas raised from 1 to 3 as configured'])
  const after = (await jsm.streams.info('KEEP_INBOX')).config
  t.equal(after.num_replicas, 3)
  t.same(after.sources, before.sources, 'its sources kept')
  t.equal((await jsm.streams.info('KEEP_INBOX')).state.messages, 10, 'what it had copied is kept')
  for (let i = 10; i < 20; i++) await js.publish(`keep.origin.${i}`, String(i))
  t.ok(await copied(20), 'and it goes on copying, without copying the first ten again')
})
