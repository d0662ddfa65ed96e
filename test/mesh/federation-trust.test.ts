// Review m13: hubs of two clusters federate with hub-b a leaf of hub-a. All enforcement is on
// the hub side (src/mesh/permissions.ts), and the leaf side filters nothing (LEAF_DENY = []).
// For cluster b, hub-a is ANOTHER organisation's server: whoever runs it decides what crosses.
// With hub-a's config changed by its own operator (nothing cluster b controls), a client on
// hub-a reads hub-b's `local` and cluster-b `cluster` events and calls hub-b's JetStream API.
import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import type { NatsConnection } from '@nats-io/transport-node'
import { startTestNats } from '../fixtures/nats.ts'
import { eventually, leafCount, MESH_PLATFORM, meshTopology } from '../fixtures/mesh.ts'

const OPEN = { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } }

t.test("cluster b's data is safe from a hub-a whose operator changed its own config", async (t) => {
  const topo = await meshTopology()
  // hub-a as its operator may write it: the hub-b login with every permission, its own client unrestricted
  const honestA = meshServerTopology(topo['hub-a'])
  const rogueA = { ...honestA, users: honestA.users!.map((u) => (u.user === 'hub-b' ? { ...u, permissions: OPEN } : u)), platformPermissions: undefined }
  const hubA = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'hub-a', topology: rogueA })
  // cluster b exactly as omni up writes it
  const hubB = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'hub-b', topology: meshServerTopology(topo['hub-b']) })
  const b1 = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'b1', topology: meshServerTopology(topo.b1) })
  await eventually('links', async () => (await leafCount(hubA)) >= 1 && (await leafCount(hubB)) >= 2)
  const conn = async (url: string, name: string): Promise<NatsConnection> => {
    const nc = await connectNats(url, { name, credentials: MESH_PLATFORM })
    t.teardown(() => nc.close())
    return nc
  }
  const ncB = await conn(hubB.url, 'hub-b-platform')
  const ncB1 = await conn(b1.url, 'b1-platform')
  const jsmB = await jetstreamManager(ncB)
  await jsmB.streams.add({ name: 'OMNI_EVENTS', subjects: ['omni.evt.>'] })
  const jsmB1 = await jetstreamManager(ncB1)
  await jsmB1.streams.add({ name: 'MESH_CLUSTER', subjects: ['omni.mesh.cluster.b.b1.>'] })
  await jetstream(ncB1).publish('omni.mesh.cluster.b.b1.test.note-created.v1', JSON.stringify({ visibility: 'cluster', secret: 'cluster-b only' }))

  const rogue = await conn(hubA.url, 'rogue-on-hub-a')
  const seen: string[] = []
  rogue.subscribe('omni.>', { callback: (_e, m) => void seen.push(`${m.subject} ${m.string()}`) })
  rogue.subscribe('mesh.dlv.b.b1.cluster.rogue.>', { callback: (_e, m) => void seen.push(`${m.subject} ${m.string()}`) })
  rogue.subscribe('mesh.dlv.b.b1.cluster.rogue', { callback: (_e, m) => void seen.push(`${m.subject} ${m.string()}`) })
  await rogue.flush()
  await delay(500)
  // (1) hub-b's own local event, published on hub-b by its platform
  await jetstream(ncB).publish('omni.evt.test.note-created.v1', JSON.stringify({ visibility: 'local', secret: 'hub-b local' }))
  // (2) hub-b's JetStream API from hub-a
  const info = await rogue.request('$JS.hub-b.API.STREAM.INFO.OMNI_EVENTS', '', { timeout: 3000 }).then((m) => m.string(), (e: Error) => `refused: ${e.message}`)
  // (3) a consumer on b1's cluster outbox, delivered to a subject hub-a reads
  const created = await rogue
    .request('$JS.b1.API.CONSUMER.CREATE.MESH_CLUSTER.rogue', JSON.stringify({ stream_name: 'MESH_CLUSTER', action: 'create', config: { name: 'rogue', deliver_subject: 'mesh.dlv.b.b1.cluster.rogue', deliver_policy: 'all', ack_policy: 'none' } }), { timeout: 3000 })
    .then((m) => m.string(), (e: Error) => `refused: ${e.message}`)
  await delay(1500)
  t.comment(`STREAM.INFO answer: ${info.slice(0, 160)}`)
  t.comment(`CONSUMER.CREATE answer: ${created.slice(0, 160)}`)
  t.comment(`seen on hub-a: ${JSON.stringify(seen)}`)
  t.notOk(seen.some((s) => s.includes('hub-b local')), "hub-b's local event did not reach hub-a")
  t.notOk(seen.some((s) => s.includes('cluster-b only')), "b1's cluster event did not reach hub-a")
  t.notMatch(info, /"config"/, "hub-b's JetStream API is not reachable from hub-a")
  // (4) and not only to read: hub-b's events stream deleted from hub-a
  const deleted = await rogue.request('$JS.hub-b.API.STREAM.DELETE.OMNI_EVENTS', '', { timeout: 3000 }).then((m) => m.string(), (e: Error) => `refused: ${e.message}`)
  t.comment(`STREAM.DELETE answer: ${deleted}`)
  const still = await jsmB.streams.info('OMNI_EVENTS').then(() => true, () => false)
  t.ok(still, "hub-b's events stream still exists")
})
