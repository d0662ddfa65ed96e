import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { meshApiPrefix, meshDeliverSubject, meshInboxStream, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects, type MeshVisibility } from '../../src/wire/mod.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'

// The permissions the hubs get (src/mesh/permissions.ts) carry stream sourcing across domains:
// a node of the same cluster receives a1's cluster and public outboxes, a node of cluster b only
// the public one, over two hops, even when it asks for more.
t.test('outboxes are sourced by visibility across one and two hops', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, topo)
  const conn = async (name: keyof typeof servers) => {
    const nc = await connectNats(servers[name]!.url, { name: `test-${name}`, credentials: MESH_PLATFORM })
    t.teardown(() => nc.close())
    return nc
  }
  const a1 = await conn('a1')
  const jsmA1 = await jetstreamManager(a1)
  for (const vis of ['cluster', 'public'] as const) await jsmA1.streams.add({ name: meshOutboxStream(vis), subjects: [meshOutboxSubjects(vis, 'a', 'a1')] })
  // every receiver asks for both outboxes; the hubs decide what it gets
  const inbox = async (receiver: 'a2' | 'b1') => {
    const jsm = await jetstreamManager(await conn(receiver))
    const sources = (['cluster', 'public'] as MeshVisibility[]).map((v) => ({ name: meshOutboxStream(v), external: { api: meshApiPrefix('a1'), deliver: meshDeliverSubject('a', 'a1', v, receiver) } }))
    await jsm.streams.add({ name: meshInboxStream('a1'), subjects: [], sources })
    return jsm
  }
  const a2 = await inbox('a2')
  const b1 = await inbox('b1')
  const js = jetstream(a1)
  for (let i = 0; i < 200; i++) {
    await js.publish(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.thing.v1'), `c${i}`)
    await js.publish(meshOutboxSubject('public', 'a', 'a1', 'omni.evt.test.thing.v1'), `p${i}`)
  }
  await eventually('a2 to hold both outboxes', async () => (await a2.streams.info(meshInboxStream('a1'))).state.messages === 400)
  await eventually('b1 to hold the public outbox', async () => (await b1.streams.info(meshInboxStream('a1'))).state.messages === 200)
  // nothing more arrives at b1 later: the cluster outbox stays out of reach
  await new Promise((r) => setTimeout(r, 1000))
  const held = await b1.streams.info(meshInboxStream('a1'))
  t.equal(held.state.messages, 200, 'b1 holds only the public events')
  const subjects = await b1.streams.info(meshInboxStream('a1'), { subjects_filter: '>' })
  t.same(Object.keys(subjects.state.subjects ?? {}), [meshOutboxSubject('public', 'a', 'a1', 'omni.evt.test.thing.v1')], 'and no cluster subject')
})
