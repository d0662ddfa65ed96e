import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import type { Test } from 'tap'
import { connectNats } from '../../src/jetstream/connect.ts'
import { jetstreamManager } from '@nats-io/jetstream'
import { meshInboxStream } from '../../src/wire/mod.ts'
import { storedOn } from '../fixtures/fabric.ts'
import { eventually, leafCount, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { meshPipeline, startMeshNode, type MeshNode } from '../fixtures/mesh-node.ts'
import { startTcpProxy } from '../fixtures/tcp-proxy.ts'

const N = 2000
const BATCH = 100

/** Ingests N cluster events on `node` in batches, calling `midway` once half are in. */
async function ingest(node: MeshNode, prefix: string, midway: () => Promise<void>): Promise<void> {
  for (let i = 0; i < N; i += BATCH) {
    if (i === N / 2) await midway()
    const batch = Array.from({ length: BATCH }, (_, j) => ({ type: 'note.created', data: { noteId: `${prefix}-${i + j}` }, visibility: 'cluster' }))
    await node.fabric.node.ingest.events(batch)
  }
}

/** Every event settled on `receiver` exactly once: as many settlements as distinct events, N of them. */
async function settledExactlyOnce(t: Test, receiver: MeshNode, healedAt: number): Promise<void> {
  await eventually(`a2 to settle ${N} events`, () => receiver.done.length >= N, 60_000)
  t.comment(`all ${N} settled ${Date.now() - healedAt} ms after the link was restored`)
  // a late duplicate has time to show
  await delay(1000)
  const ids = new Set(receiver.done.map((e) => e.data['noteId']))
  t.equal(receiver.done.length, N, `${N} settlements`)
  t.equal(ids.size, N, `of ${N} distinct events`)
  t.equal(await storedOn(receiver.fabric.jsm, 'omni.rcv.>'), N, `${N} received events stored`)
}

t.test('hub SIGKILLed while events flow: every event settles on the other leaf exactly once', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const a1 = await startMeshNode(t, topo.a1, servers.a1!, {})
  const a2 = await startMeshNode(t, topo.a2, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster') })
  const hub = servers['hub-a']!
  let healedAt = 0
  await ingest(a1, 'kill', async () => {
    hub.kill('SIGKILL')
    await hub.closed()
    await delay(2000)
    await hub.restart()
    healedAt = Date.now()
  })
  await settledExactlyOnce(t, a2, healedAt)
})

t.test("a leaf's link cut and restored while events flow: every event settles exactly once", async (t) => {
  const topo = await meshTopology()
  const proxy = await startTcpProxy(topo['hub-a'].listen!.port)
  t.teardown(() => proxy.close())
  const a1Config = { ...topo.a1, hubs: [`nats-leaf://127.0.0.1:${proxy.port}`] }
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: a1Config, a2: topo.a2 })
  const a1 = await startMeshNode(t, a1Config, servers.a1!, {})
  const a2 = await startMeshNode(t, topo.a2, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster') })
  let healedAt = 0
  await ingest(a1, 'cut', async () => {
    proxy.cut()
    await eventually("a1's link to drop", async () => (await leafCount(servers.a1!)) === 0)
    await delay(2000)
    proxy.restore()
    healedAt = Date.now()
  })
  await eventually("a1's link to heal", async () => (await leafCount(servers.a1!)) === 1)
  await settledExactlyOnce(t, a2, healedAt)
})

t.test("a2's inbox deleted and recreated: a1's outbox is sourced again and nothing is processed twice", async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const a1 = await startMeshNode(t, topo.a1, servers.a1!, {})
  const first = await startMeshNode(t, topo.a2, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster') })
  for (let i = 0; i < 50; i++) await a1.fabric.node.ingest.event({ type: 'note.created', data: { noteId: `d-${i}` }, visibility: 'cluster' })
  await eventually('a2 to settle the 50 events', () => first.done.length >= 50)
  await first.close()

  const nc = await connectNats(servers.a2!.url, { name: 'test-a2', credentials: MESH_PLATFORM })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.delete(meshInboxStream('a1'))
  const again = await startMeshNode(t, topo.a2, servers.a2!, {}, first.dir)
  await eventually('the new inbox to hold the outbox again', async () => (await jsm.streams.info(meshInboxStream('a1'))).state.messages === 50)
  await eventually('the receiver to have read it all', async () => (await jsm.consumers.info(meshInboxStream('a1'), 'mesh-receiver')).num_pending === 0 && (await jsm.consumers.info(meshInboxStream('a1'), 'mesh-receiver')).num_ack_pending === 0)
  await delay(1000)
  t.same(again.done, [], 'no event was processed a second time')
  t.equal(await storedOn(again.fabric.jsm, 'omni.rcv.>'), 50, 'the events stream holds each received event once: re-sourced copies were deduplicated by origin and id')
})
