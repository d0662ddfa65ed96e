import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { errors } from '@nats-io/nats-core'
import { replicaRefusal } from '../../src/jetstream/replicas.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { connectTest } from '../fixtures/nats.ts'
import { startTestCluster } from '../fixtures/nats-cluster.ts'

const LIMITS = { maxBytes: 16 * 1024 * 1024, rawMaxBytes: 16 * 1024 * 1024 }

async function metaLeader(jsm: Awaited<ReturnType<typeof jetstreamManager>>): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (await jsm.getAccountInfo().then(() => true, () => false)) return
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error('no JetStream meta leader among the servers left after 30 s')
}

t.test('a request that timed out while placing copies is said as such, naming the stream and the count', async (t) => {
  const refused = replicaRefusal(new errors.TimeoutError(), EVENTS_STREAM, 3)
  t.match(refused, { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /^stream OMNI_EVENTS: JetStream did not answer in time while placing 3 replicas: are 3 servers of the cluster up\?/ })
  t.equal(replicaRefusal(new errors.TimeoutError(), EVENTS_STREAM, 1), undefined, 'one copy: the timeout is not about copies, rethrown as it is')
})

// A careless operator: --replicas 3 while one server of three was just lost (a rolling restart).
// Measured: ensureStreams either succeeds or its request times out (the dead server given a copy);
// either way no bare "timeout" naming nothing.
t.test('one server of three just killed: streams with 3 replicas are created, or refused naming the stream and the count', async (t) => {
  const cluster = await startTestCluster(t)
  const nc = await connectTest(t, cluster)
  const jsm = await jetstreamManager(nc)
  const last = cluster.servers[cluster.servers.length - 1]!
  last.kill('SIGKILL')
  await last.closed()
  await metaLeader(jsm)
  const r = await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' }).catch((err: unknown) => err)
  if (Array.isArray(r)) {
    t.comment('created this time')
    t.equal((await jsm.streams.info(EVENTS_STREAM)).config.num_replicas, 3)
  } else {
    t.comment(`refused this time: ${(r as Error).message}`)
    t.match(r, { code: /^OMNI_ERR_(NATS_UNAVAILABLE|CONFIG)$/, message: /^stream OMNI_\w+: .*3 replicas/ })
  }
})

t.test('one server of three down: raising from 1 to 3 goes through, with a line per stream whose third copy is missing', async (t) => {
  const cluster = await startTestCluster(t)
  const nc = await connectTest(t, cluster)
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm, { ...LIMITS, mode: 'upsert' })
  const last = cluster.servers[cluster.servers.length - 1]!
  last.kill('SIGKILL')
  await last.closed()
  await metaLeader(jsm)
  const started = Date.now()
  const w = await ensureStreams(jsm, { ...LIMITS, replicas: 3, mode: 'upsert' }).catch((err: unknown) => err)
  // the three streams wait for their missing copies side by side, up to 10 s (they waited one after another until 2026-12-07: 30–42 s)
  t.comment(`${Date.now() - started} ms: ${JSON.stringify(w)}`)
  t.ok(Array.isArray(w), `not refused: ${String((w as Error).message ?? '')}`)
  for (const s of ['OMNI_EVENTS', 'OMNI_DLQ', 'OMNI_RAW']) t.ok((w as string[]).some((l) => l.startsWith(`stream ${s}: 2 of its 3 copies current`)), `${s}: the missing copy is said`)
})
