import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { meshMetrics } from '../../src/observability/metrics.ts'
import { meshInboxStream, meshOutboxStream } from '../../src/wire/mod.ts'
import { eventually, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { meshPipeline, startMeshNode } from '../fixtures/mesh-node.ts'
import { testClickHouseConfig } from '../fixtures/clickhouse.ts'

const OWN_EVENTS = `kind: Pipeline
name: own-events
sources: ['omni.evt.>']
stages: []
`

// Real Omni nodes on the topology: an event ingested on a1 travels by its visibility
// through a1's exporter and outboxes, hub-a (and hub-b) to the receivers of a2 and b1, and is
// settled by a pipeline with a mesh source there, once, carrying origin a1.
t.setTimeout(120_000)

t.test('events cross the mesh by visibility into pipelines with mesh sources', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, topo)
  const a1 = await startMeshNode(t, topo.a1, servers.a1!, {})
  const a2 = await startMeshNode(t, topo.a2, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster'), 'pipelines/own.yaml': OWN_EVENTS }, undefined, { clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 5 } })
  const b1 = await startMeshNode(t, topo.b1, servers.b1!, { 'pipelines/p.yaml': meshPipeline('any') })

  await a1.fabric.node.ingest.event({ type: 'note.created', data: { noteId: 'c1' }, visibility: 'cluster' })
  await a1.fabric.node.ingest.event({ type: 'note.created', data: { noteId: 'l1' }, visibility: 'local' })
  await a1.fabric.node.ingest.event({ type: 'note.created', data: { noteId: 'p1' }, visibility: 'public' })

  await eventually('a2 to settle the cluster event', () => a2.done.length >= 1)
  await eventually('b1 to settle the public event', () => b1.done.length >= 1)
  // what else could still arrive has time to
  await delay(1500)
  t.same(a2.done.map((e) => [e.data['noteId'], e.origin, e.visibility]), [['c1', 'a1', 'cluster']], 'a2 settled the cluster event once, with origin a1 (the public one is not its source, the local one never left)')
  t.same(b1.done.map((e) => [e.data['noteId'], e.origin, e.visibility]), [['p1', 'a1', 'public']], 'b1 (cluster b, via hub-b) settled only the public event, with origin a1')
  t.same(a2.doneBy, ['from-mesh'], 'a plain subject source (omni.evt.>) never sees received events')
  t.same(a1.done, [], 'a1 has no pipeline: its own events are not received back')

  const outbox = async (vis: 'cluster' | 'public') => (await a1.fabric.jsm.streams.info(meshOutboxStream(vis))).state.messages
  t.equal(await outbox('cluster'), 1, "a1's cluster outbox holds the cluster event")
  t.equal(await outbox('public'), 1, "a1's public outbox holds the public event; the local one is in neither")
  t.equal((await b1.fabric.jsm.streams.info(meshInboxStream('a1'))).state.messages, 1, "b1's inbox of a1 holds only the public event")
  t.equal((await a2.fabric.jsm.streams.info(meshInboxStream('a1'))).state.messages, 2, "a2's inbox of a1 holds both")

  // one process runs the three nodes: the counters add up what a1 sent and a2 and b1 admitted
  const counted = async (direction: string, visibility: string) => (await meshMetrics.events.get()).values.find((v) => v.labels['direction'] === direction && v.labels['visibility'] === visibility)?.value ?? 0
  t.same([await counted('out', 'cluster'), await counted('out', 'public'), await counted('in', 'cluster'), await counted('in', 'public')], [1, 1, 1, 2], 'omni_mesh_events_total: out 1 cluster + 1 public; in 1 cluster (a2) + 2 public (a2, b1)')

  // ClickHouse on a2 records the received event with the node it came from
  const id = a2.done[0]!.id
  await eventually('a2 to record the received event', async () => (await a2.fabric.node.events.get(id).catch(() => undefined)) !== undefined)
  t.match((await a2.fabric.node.events.get(id)).events, [{ originNode: 'a1', origin: 'mesh:a1', subject: 'omni.rcv.cluster.a.a1.test.note-created.v1', pipelines: ['from-mesh'] }], "a2's omni_events row names a1 as the origin node")
})
