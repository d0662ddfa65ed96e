// Review m13: a peer whose store is wiped (a reinstalled node, a deleted and recreated outbox)
// starts its outbox at sequence 1 again. The receiving inbox's JetStream source remembers the
// last sequence it got and asks the new outbox for what follows: the peer's new events up to
// that sequence never arrive (and nothing says so: lag reads 0).
// The fix is driven by the peer's hello (its outboxes' epochs and last sequences), so this test
// runs real nodes; the first version called ensureOutboxes/ensureInboxes alone, where nothing
// that could notice the new outbox runs.
import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import type { MeshStatus } from '../../src/mesh/status.ts'
import { meshInboxStream, meshOutboxStream } from '../../src/wire/mod.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { meshPipeline, startMeshNode } from '../fixtures/mesh-node.ts'

t.setTimeout(120_000)

t.test("a peer's new events after its outbox was recreated reach the inbox", async (t) => {
  const topo = await meshTopology()
  const a1Config = { ...topo.a1, presenceIntervalMs: 500 }
  const a2Config = { ...topo.a2, presenceIntervalMs: 500 }
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: a1Config, a2: a2Config })
  let a1 = await startMeshNode(t, a1Config, servers.a1!, {})
  const a2 = await startMeshNode(t, a2Config, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster') })
  const send = (node: typeof a1, noteId: string) => node.fabric.node.ingest.event({ type: 'note.created', data: { noteId }, visibility: 'cluster' })
  for (let i = 0; i < 20; i++) await send(a1, `old-${i}`)
  await eventually('a2 to settle the 20 old events', () => a2.done.length === 20, 30_000)
  const inboxOf = async () => a2.fabric.jsm.streams.info(meshInboxStream('a1'))
  await eventually("a2's inbox to record the epoch of a1's outbox", async () => Object.keys((await inboxOf()).config.metadata ?? {}).some((k) => k.startsWith('omni_mesh_epoch_')))

  // a1's store is wiped as far as the mesh goes: its outbox comes back empty and starts at seq 1
  await a1.close()
  const nc = await connectNats(servers.a1!.url, { name: 'test-wipe', credentials: MESH_PLATFORM })
  await (await jetstreamManager(nc)).streams.delete(meshOutboxStream('cluster'))
  await nc.close()
  a1 = await startMeshNode(t, a1Config, servers.a1!, {}, a1.dir)
  for (let i = 0; i < 5; i++) await send(a1, `new-${i}`)
  const arrived = await eventually('the 5 new events', () => a2.done.length === 25, 30_000).then(
    () => true,
    () => false,
  )
  const info = await inboxOf()
  t.comment(`a2 settled ${a2.done.length}; inbox holds ${info.state.messages}; source lag ${info.sources?.map((s) => `${s.name}:${s.lag}`).join(',')}`)
  t.ok(arrived, "a1's 5 new events reached a2's pipeline")
  t.same(a2.done.slice(20).map((e) => (e.data as { noteId: string }).noteId).sort(), ['new-0', 'new-1', 'new-2', 'new-3', 'new-4'], 'each new event once, no old one again')
  const status = (await a2.fabric.node.mesh.status()) as MeshStatus
  t.equal(status.inboxes.find((i) => i.peer === 'a1')?.resets, 1, 'mesh status counts the reset of the inbox of a1')
})
