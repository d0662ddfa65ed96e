// Each side of a leaf link has its own wall: a1's server refuses, on its link to hub-a, everything
// the mesh does not need, whatever hub-a's config says. Here hub-a is a rogue hub of a's own
// cluster (a1's login open to everything, its own client unrestricted); the federated case is
// federation-trust.test.ts.
import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { linkDenies } from '../../src/mesh/link-denies.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import { meshOutboxStream, meshOutboxSubjects } from '../../src/wire/mod.ts'
import { startTestNats } from '../fixtures/nats.ts'
import { eventually, leafCount, MESH_PLATFORM, meshTopology } from '../fixtures/mesh.ts'

const OPEN = { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } }
let replies = 0
/**
 * A request whose reply comes back on `rogue.reply.<n>`: the client's usual `_INBOX.>` is itself
 * refused on the link, so it would hide whether the request got through.
 */
async function answer(nc: NatsConnection, subject: string, body = ''): Promise<string> {
  const reply = `rogue.reply.${++replies}`
  const sub = nc.subscribe(reply, { max: 1, timeout: 2000 })
  nc.publish(subject, body, { reply })
  try {
    // an empty message is the server's "no responders" status: nobody past the link heard it
    for await (const m of sub) return m.data.length > 0 ? m.string() : `refused: status ${m.headers?.code ?? '?'}`
  } catch (e) {
    return `refused: ${(e as Error).message}`
  }
  return 'refused: no answer'
}

t.test("a rogue hub of a1's own cluster reaches nothing of a1 but its outboxes", async (t) => {
  const topo = await meshTopology()
  const honest = meshServerTopology(topo['hub-a'])
  const rogueHub = { ...honest, users: honest.users!.map((u) => (u.user === 'a1' ? { ...u, permissions: OPEN } : u)), platformPermissions: undefined }
  const hubA = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'hub-a', topology: rogueHub })
  const a1 = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'a1', topology: meshServerTopology(topo.a1) })
  await eventually('a1 linked', async () => (await leafCount(hubA)) >= 1 && (await leafCount(a1)) >= 1)
  const conn = async (url: string, name: string) => {
    const nc = await connectNats(url, { name, credentials: MESH_PLATFORM })
    t.teardown(() => nc.close())
    return nc
  }
  const ncA1 = await conn(a1.url, 'a1-platform')
  const jsm = await jetstreamManager(ncA1)
  await jsm.streams.add({ name: 'OMNI_EVENTS', subjects: ['omni.evt.>'] })
  await jsm.streams.add({ name: meshOutboxStream('cluster'), subjects: [meshOutboxSubjects('cluster', 'a', 'a1')] })
  await jetstream(ncA1).publish('omni.evt.test.note-created.v1', JSON.stringify({ visibility: 'local', secret: 'a1 local' }))

  const rogue = await conn(hubA.url, 'rogue-on-hub-a')
  const seen: string[] = []
  rogue.subscribe('omni.>', { callback: (_e, m) => void seen.push(m.string()) })
  rogue.subscribe('rogue.MESH_CLUSTER.>', { callback: (_e, m) => void seen.push(m.string()) })
  await rogue.flush()
  await delay(300)
  await jetstream(ncA1).publish('omni.evt.test.note-created.v1', JSON.stringify({ visibility: 'local', secret: 'a1 local, later' }))

  const consumerOn = (stream: string) =>
    answer(rogue, `$JS.a1.API.CONSUMER.CREATE.${stream}.rogue`, JSON.stringify({ stream_name: stream, action: 'create', config: { name: 'rogue', deliver_subject: `rogue.${stream}`, deliver_policy: 'all', ack_policy: 'none' } }))
  const onEvents = await consumerOn('OMNI_EVENTS')
  const info = await answer(rogue, '$JS.a1.API.STREAM.INFO.OMNI_EVENTS')
  const direct = await answer(rogue, '$JS.a1.API.DIRECT.GET.OMNI_EVENTS', JSON.stringify({ seq: 1 }))
  // the control: the one call the mesh needs still crosses, so the refusals above are the deny lists
  const onOutbox = await consumerOn(meshOutboxStream('cluster'))
  await delay(1000)
  t.comment(`OMNI_EVENTS consumer: ${onEvents.slice(0, 120)}; STREAM.INFO: ${info.slice(0, 120)}; DIRECT.GET: ${direct.slice(0, 120)}; MESH_CLUSTER consumer: ${onOutbox.slice(0, 120)}`)
  t.match(onEvents, /^refused/, "no consumer on a1's events stream")
  t.equal((await jsm.consumers.list('OMNI_EVENTS').next()).length, 0, 'and a1 holds none')
  t.match(info, /^refused/, "a1's stream info is not reachable")
  t.match(direct, /^refused/, "a1's direct get is not reachable")
  t.match(onOutbox, /"config"/, "a consumer on a1's cluster outbox is still created (what sourcing needs)")
  t.same(seen, [], "nothing of a1's local events reached hub-a")
})

t.test('the lists: what a leaf and a federated hub refuse on their link', async (t) => {
  const topo = await meshTopology()
  const leaf = linkDenies(topo.a1)
  const fed = linkDenies(topo['hub-b'])
  for (const [name, d] of [['a1', leaf], ['hub-b', fed]] as const) {
    t.same(d.imports, d.exports, `${name}: one list both ways`)
    for (const s of ['$JS.*.API.STREAM.>', '$JS.*.API.CONSUMER.CREATE.OMNI_EVENTS', '$JS.*.API.CONSUMER.CREATE.KV_omni-dedup.>', '$JS.*.API.CONSUMER.CREATE.OBJ_omni_plugins', 'omni.>', '$JS.ACK.>', '_INBOX.>', '$KV.>', 'mesh.status'])
      t.ok(d.imports.includes(s), `${name} refuses ${s}`)
  }
  t.ok(leaf.imports.includes('$JS.*.API.CONSUMER.CREATE.MESH_IN_a2'), "a1 refuses consumers on its peers' inboxes")
  t.notOk(leaf.imports.some((s) => s.includes('MESH_CLUSTER') || s.includes('.cluster')), 'a leaf still passes its cluster outbox and deliveries')
  t.ok(fed.imports.includes('$JS.*.API.CONSUMER.CREATE.MESH_CLUSTER.>'), 'a federated hub refuses the cluster outbox')
  t.ok(fed.imports.includes('mesh.dlv.*.*.cluster.>') && fed.imports.includes('$JS.FC.MESH_CLUSTER.>'), 'and cluster deliveries and their flow control')
  t.ok(fed.imports.includes('$JS.*.API.CONSUMER.CREATE.MESH_IN_b1'), "and consumers on its members' inboxes")
  t.notOk(fed.imports.some((s) => s.includes('MESH_PUBLIC') || s.includes('.public')), 'public outboxes still cross')
})
