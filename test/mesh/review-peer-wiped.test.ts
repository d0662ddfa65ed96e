// Review m13: a peer whose store is wiped (a reinstalled node, a deleted and recreated outbox)
// starts its outbox at sequence 1 again. The receiving inbox's JetStream source remembers the
// last sequence it got and asks the new outbox for what follows: the peer's new events up to
// that sequence never arrive (and nothing says so: lag reads 0).
import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { ensureInboxes } from '../../src/mesh/inbox.ts'
import { ensureOutboxes } from '../../src/mesh/outbox.ts'
import { meshInboxStream, meshOutboxStream, meshOutboxSubject } from '../../src/wire/mod.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'

t.test("a peer's new events after its outbox was recreated reach the inbox", async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const conn = async (name: 'a1' | 'a2') => {
    const nc = await connectNats(servers[name]!.url, { name: `test-${name}`, credentials: MESH_PLATFORM })
    t.teardown(() => nc.close())
    return nc
  }
  const a1 = await conn('a1')
  const jsmA1 = await jetstreamManager(a1)
  const jsA1 = jetstream(a1)
  const jsmA2 = await jetstreamManager(await conn('a2'))
  await ensureOutboxes(jsmA1, 'a', 'a1')
  await ensureInboxes(jsmA2, 'a', 'a2', [{ node: 'a1', cluster: 'a' }])
  const send = (id: string) => jsA1.publish(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.note-created.v1'), id, { msgID: `in:1.t:${id}` })
  for (let i = 0; i < 20; i++) await send(`old-${i}`)
  await eventually('a2 to hold the 20 old events', async () => (await jsmA2.streams.info(meshInboxStream('a1'))).state.messages === 20)

  // a1's store is wiped: its outbox comes back empty (omni up recreates it) and starts at seq 1
  await jsmA1.streams.delete(meshOutboxStream('cluster'))
  await ensureOutboxes(jsmA1, 'a', 'a1')
  for (let i = 0; i < 5; i++) await send(`new-${i}`)
  const arrived = await eventually('the 5 new events', async () => (await jsmA2.streams.info(meshInboxStream('a1'))).state.messages === 25, 15_000).then(
    () => true,
    () => false,
  )
  const info = await jsmA2.streams.info(meshInboxStream('a1'))
  t.comment(`inbox holds ${info.state.messages}; source lag ${info.sources?.map((s) => `${s.name}:${s.lag}`).join(',')}`)
  t.ok(arrived, "a1's 5 new events reached a2's inbox")
  await delay(10)
})
