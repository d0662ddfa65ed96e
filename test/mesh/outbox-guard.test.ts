// The hubs let peers send consumer-create requests for the outboxes (stream sourcing needs them)
// but cannot check the config inside: a rogue b1 (another cluster) made consumers on a2's public
// outbox with deliver subjects of a2's own (found by the review of issue 13). Measured: a2's
// streams were not written; the node's outbox guard removes such consumers.
import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import { meshApiPrefix, meshDeliverSubject, meshInboxStream, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects } from '../../src/wire/mod.ts'
import { startTestNats } from '../fixtures/nats.ts'
import { guardOutboxes } from '../../src/mesh/outbox-guard.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { eventually, leafCount, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'

t.test('consumers a rogue leaf of another cluster makes on a2\'s outbox are removed, and write nothing', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], 'hub-b': topo['hub-b'], a2: topo.a2 })
  // b1 is a hand-written server: its operator uses b1's login at hub-b but gives its own
  // client full rights (the hub's permissions are the line, ARCHITECTURE.md)
  const rogueTopo = { ...meshServerTopology(topo.b1), platformPermissions: undefined }
  const b1 = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'b1', topology: rogueTopo })
  await eventually('b1 link', async () => (await leafCount(b1)) >= 1)

  // a2 as the platform makes it: an outbox with one public event, an events stream
  const a2nc = await connectNats(servers.a2!.url, { credentials: MESH_PLATFORM })
  t.teardown(() => a2nc.close())
  const jsm = await jetstreamManager(a2nc)
  await jsm.streams.add({ name: meshOutboxStream('public'), subjects: [meshOutboxSubjects('public', 'a', 'a2')] })
  await jsm.streams.add({ name: 'OMNI_EVENTS', subjects: ['omni.evt.>'] })
  await jsm.streams.add({ name: 'KV_omni_plugin_approvals', subjects: ['$KV.omni_plugin_approvals.>'], max_msgs_per_subject: 1 })
  const js = jetstream(a2nc)
  for (let i = 0; i < 3; i++) await js.publish(meshOutboxSubject('public', 'a', 'a2', 'omni.evt.test.note-created.v1'), JSON.stringify({ n: i }), { msgID: `in:1.t:k${i}` })

  // the rogue on b1 asks a2's domain for consumers whose deliver subjects are a2's own
  const rogue = await connectNats(b1.url, { credentials: MESH_PLATFORM, name: 'rogue-b1' })
  t.teardown(() => rogue.close())
  const create = async (name: string, deliver: string) => {
    const subject = `$JS.a2.API.CONSUMER.CREATE.MESH_PUBLIC.${name}`
    const body = { stream_name: 'MESH_PUBLIC', action: 'create', config: { name, deliver_subject: deliver, deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.None } }
    // the reply comes back on $JSC.R.>, which the hubs let through
    const reply = `$JSC.R.rogue${name}`
    const sub = rogue.subscribe(reply, { max: 1 })
    rogue.publish(subject, JSON.stringify(body), { reply })
    for await (const m of sub) return m.string()
    return ''
  }
  const r1 = await Promise.race([create('evil1', 'omni.evt.test.note-created.v1'), delay(5000).then(() => 'no reply')])
  const r2 = await Promise.race([create('evil2', '$KV.omni_plugin_approvals.some-plugin'), delay(5000).then(() => 'no reply')])
  t.comment(`reply 1: ${r1}`)
  t.comment(`reply 2: ${r2}`)
  await delay(1500)
  // what the node's outbox guard (src/mesh/outbox-guard.ts) does every 2 s
  const removed = await guardOutboxes(jsm, silentLogger()).sweep()
  t.comment(`removed: ${removed.join(',')}`)
  const names: string[] = []
  for await (const c of jsm.consumers.list('MESH_PUBLIC')) names.push(c.name)
  const events = (await jsm.streams.info('OMNI_EVENTS')).state.messages
  const kv = (await jsm.streams.info('KV_omni_plugin_approvals')).state.messages
  t.comment(`consumers on a2's MESH_PUBLIC: ${names.join(',')}; OMNI_EVENTS: ${events}; approvals KV: ${kv}`)
  // what should hold: a peer of another cluster cannot create consumers delivering inside a2
  t.same(names, [], 'no consumer b1 made with a deliver subject of its own choosing is left on a2')
  t.equal(removed.length, 2, 'the guard removed both')
  t.equal(events, 0, "a2's events stream was not written by b1")
  t.equal(kv, 0, "a2's approvals bucket was not written by b1")
})

t.test('the guard leaves stream sourcing alone: its consumers are internal and never listed', async (t) => {
  const topo = await meshTopology()
  const s = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const a1 = await connectNats(s.a1!.url, { credentials: MESH_PLATFORM })
  const a2 = await connectNats(s.a2!.url, { credentials: MESH_PLATFORM })
  t.teardown(() => Promise.all([a1.close(), a2.close()]))
  const j1 = await jetstreamManager(a1)
  const j2 = await jetstreamManager(a2)
  await j1.streams.add({ name: meshOutboxStream('cluster'), subjects: [meshOutboxSubjects('cluster', 'a', 'a1')] })
  await j2.streams.add({ name: meshInboxStream('a1'), subjects: [], sources: [{ name: meshOutboxStream('cluster'), external: { api: meshApiPrefix('a1'), deliver: meshDeliverSubject('a', 'a1', 'cluster', 'a2') } }] })
  const send = (n: number) => jetstream(a1).publish(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.note-created.v1'), JSON.stringify({ n }), { msgID: `in:1.t:g${n}` })
  await send(1)
  await eventually('the first event at a2', async () => (await j2.streams.info(meshInboxStream('a1'))).state.messages === 1)
  const removed = await guardOutboxes(j1, silentLogger()).sweep()
  t.same(removed, [], 'nothing to remove while only sourcing reads the outbox')
  await send(2)
  await eventually('the second event at a2', async () => (await j2.streams.info(meshInboxStream('a1'))).state.messages === 2)
  t.pass('sourcing goes on after a sweep')
})
