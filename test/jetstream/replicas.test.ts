import t from 'tap'
import { jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { DEDUP_BUCKET } from '../../src/jetstream/dedup-store.ts'
import { kvStream, replicaChange } from '../../src/jetstream/replicas.ts'
import { DLQ_STREAM, ensureStreams, EVENTS_STREAM, RAW_STREAM, reconcileReplicas } from '../../src/jetstream/topology.ts'
import { jetstream } from '@nats-io/jetstream'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { startTestCluster } from '../fixtures/nats-cluster.ts'

// One real three-node cluster for every branch: what a chart with nats.replicas: 3 runs on.
const cluster = await startTestCluster(t)
const nc = await connectTest(t, cluster)
// placing three file copies of a stream can take longer than the API's 5 s default while the whole
// suite loads the machine (seen once in a fresh-clone run): the test gives JetStream 30 s
const jsm = await jetstreamManager(nc, { timeout: 30_000 })
const PLATFORM = [EVENTS_STREAM, DLQ_STREAM, RAW_STREAM]
// small byte limits: three copies of the 8 GiB defaults are reserved on every server's disk
const LIMITS = { maxBytes: 64 * 1024 * 1024, rawMaxBytes: 64 * 1024 * 1024 }

const replicasOf = async (name: string) => (await jsm.streams.info(name)).config.num_replicas
async function dropAll(m: JetStreamManager): Promise<void> {
  for await (const name of m.streams.names()) await m.streams.delete(name)
}

t.test('replicaChange: raise on request, never lower, nothing when unset or equal', async (t) => {
  t.same(replicaChange('S', 1, undefined), {})
  t.same(replicaChange('S', 3, 3), {})
  t.same(replicaChange('S', undefined, 1), {}, 'a stream without the field has one copy')
  t.match(replicaChange('S', 1, 3), { to: 3, message: 'stream S: replicas raised from 1 to 3 as configured' })
  const down = replicaChange('S', 3, 1)
  t.equal(down.to, undefined, 'never lowered')
  t.match(down.message, /stream S keeps its 3 replicas: the configured 1 would lower them/)
})

t.test('new streams get the configured replicas, each copy on another server', async (t) => {
  await dropAll(jsm)
  t.same(await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' }), [], 'nothing to say about streams it made')
  for (const name of PLATFORM) {
    const info = await jsm.streams.info(name)
    t.equal(info.config.num_replicas, 3, `${name} has 3 replicas`)
    const placed = new Set([info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)])
    t.equal(placed.size, 3, `${name} lives on three servers (${[...placed].join(', ')})`)
  }
  t.same(await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' }), [], 'and nothing on the next start')
})

t.test('unset: a new stream gets 1 and an existing one keeps its own, said once', async (t) => {
  await dropAll(jsm)
  await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['omni.evt.>'], storage: StorageType.File, num_replicas: 3, max_bytes: LIMITS.maxBytes })
  const warnings = await ensureStreams(jsm, { ...LIMITS, mode: 'upsert' })
  t.equal(await replicasOf(EVENTS_STREAM), 3, 'kept')
  t.equal(await replicasOf(DLQ_STREAM), 1, 'a new one gets the default 1')
  t.ok(warnings.some((w) => w === 'stream OMNI_EVENTS keeps num_replicas = 3 as set on the server (the platform would create it with 1)'), warnings.join('\n'))
})

t.test('configured above an existing stream: raised, with a log line naming both counts', async (t) => {
  await dropAll(jsm)
  await ensureStreams(jsm, { ...LIMITS, mode: 'upsert' })
  for (const name of PLATFORM) t.equal(await replicasOf(name), 1)
  const w = await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' })
  for (const name of PLATFORM) {
    t.equal(await replicasOf(name), 3, `${name} raised to 3`)
    t.ok(w.includes(`stream ${name}: replicas raised from 1 to 3 as configured`), w.join('\n'))
  }
  // the CLI's commands never touch a stream that exists
  t.same(await ensureStreams(jsm, { replicas: 1, mode: 'create-missing' }), [])
})

t.test('configured below an existing stream: never lowered, a warning names the stream and both counts', async (t) => {
  await dropAll(jsm)
  await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' })
  const w = await ensureStreams(jsm, { ...LIMITS, replicas: 1, mode: 'upsert' })
  for (const name of PLATFORM) {
    t.equal(await replicasOf(name), 3, `${name} keeps 3`)
    t.ok(w.some((line) => line.startsWith(`stream ${name} keeps its 3 replicas: the configured 1 would lower them`)), w.join('\n'))
  }
  t.notOk(w.some((line) => /num_replicas/.test(line)), 'said once, not again as a kept default')
})

t.test('KV buckets: created with the count, an existing one raised and never lowered, an absent one skipped', async (t) => {
  await dropAll(jsm)
  const js = jetstream(nc)
  await new Kvm(js).create(DEDUP_BUCKET, { history: 1 })
  const stream = kvStream(DEDUP_BUCKET)
  t.equal(await replicasOf(stream), 1)
  t.same(await reconcileReplicas(jsm, [stream, kvStream('omni-absent')], undefined), [], 'unset: nothing changes')
  t.same(await reconcileReplicas(jsm, [stream, kvStream('omni-absent')], 3), [`stream ${stream}: replicas raised from 1 to 3 as configured`])
  t.equal(await replicasOf(stream), 3)
  const kv = await new Kvm(js).open(DEDUP_BUCKET)
  await kv.put('k', 'v')
  t.equal((await kv.get('k'))?.string(), 'v', 'the raised bucket works')
  const down = await reconcileReplicas(jsm, [stream], 1)
  t.match(down[0], /keeps its 3 replicas: the configured 1 would lower them/)
  t.equal(await replicasOf(stream), 3)
  const made = await new Kvm(js).create('omni-made', { replicas: 3 })
  t.equal((await made.status()).replicas, 3, 'a new bucket takes the count it is given')
})

t.test('a count the servers cannot hold is refused naming the stream, the count and the way out', async (t) => {
  await dropAll(jsm)
  const five = await ensureStreams(jsm, { ...LIMITS, replicas: 5, mode: 'upsert' }).catch((err: unknown) => err)
  t.match(five, { code: 'OMNI_ERR_CONFIG', message: /^stream OMNI_EVENTS: JetStream could not place 5 replicas \(no suitable peers for placement\): are 5 servers of the cluster up/ })
  const single = await startTestNats(t)
  const alone = await jetstreamManager(await connectTest(t, single))
  const three = await ensureStreams(alone, { replicas: 3, mode: 'upsert' }).catch((err: unknown) => err)
  t.match(three, { code: 'OMNI_ERR_CONFIG', message: "stream OMNI_EVENTS: 3 replicas need a NATS cluster, and this server runs alone: configure 1 (--replicas), or give the cluster's URLs (--nats a,b,c)" })
})
