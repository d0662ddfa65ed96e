import t from 'tap'
import { createCatalog } from '../../src/catalog/catalog.ts'
import { compileCatalogManifest } from '../../src/catalog/compile.ts'
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { publishEvent } from '../../src/ingest/publish.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { exportDecision, MESH_EXPORTER, startExporter } from '../../src/mesh/exporter.ts'
import { ensureOutboxes } from '../../src/mesh/outbox.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { meshOutboxStream } from '../../src/wire/mod.ts'
import { eventually } from '../fixtures/mesh.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { MESH_CATALOG_WITH_PRIVATE } from '../fixtures/mesh-node.ts'
import { testLookup } from '../fixtures/manifests.ts'

const catalog = createCatalog(compileCatalogManifest(parseYamlManifest('c.yaml', MESH_CATALOG_WITH_PRIVATE), testLookup).entries)
const SUBJECT = 'omni.evt.test.note-created.v1'
const body = (extra: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify({ type: 'note.created', visibility: 'cluster', data: { noteId: 'n' }, ...extra }))

// What leaves the node is decided from the stored envelope and this node's catalog: only its own
// cluster/public events, never further than the catalog allows, never what it received.
t.test('the exporter sends only own events of cluster or public visibility the catalog allows', async (t) => {
  t.same(exportDecision(SUBJECT, body({}), catalog), { type: 'export', vis: 'cluster' })
  t.same(exportDecision(SUBJECT, body({ visibility: 'public' }), catalog), { type: 'export', vis: 'public' })
  t.match(exportDecision(SUBJECT, body({ visibility: 'local' }), catalog), { type: 'keep', why: /local/ }, 'local stays home')
  t.match(exportDecision(SUBJECT, body({ origin: 'a2' }), catalog), { type: 'keep', why: /received from a2/ }, 'a received event is never sent on')
  t.match(exportDecision('omni.evt.test.note-archived.v1', body({ type: 'note.archived', visibility: 'public' }), catalog), { type: 'keep', why: /at most cluster/ }, 'a producer on NATS cannot widen a type past the catalog')
  t.match(exportDecision(SUBJECT, body({ type: 'note.unheard-of' }), catalog), { type: 'keep', why: /not in the catalog/ })
  t.match(exportDecision(SUBJECT, new TextEncoder().encode('{'), catalog), { type: 'keep', why: /does not parse/ })
  t.match(exportDecision('omni.evt.odd', body({}), catalog), { type: 'keep', why: /not an event subject/ })
})

// The exporter's consumer reset (an operator re-adds it from the start, or every event is
// redelivered): everything is sent again with the same ids, and the outbox keeps one copy of each.
t.test('a redelivered export is dropped by the outbox', async (t) => {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  await ensureStreams(jsm)
  await ensureOutboxes(jsm, 'a', 'a1')
  const opts = { js, jsm, publisher, catalog: () => catalog, cluster: 'a', node: 'a1', logger: silentLogger() }
  const held = async () => [(await jsm.streams.info(meshOutboxStream('cluster'))).state.messages, (await jsm.streams.info(meshOutboxStream('public'))).state.messages]
  let exporter = await startExporter(opts)
  for (const [noteId, visibility] of [['c', 'cluster'], ['p', 'public'], ['l', 'local']] as const) await publishEvent(publisher, catalog, { type: 'note.created', data: { noteId }, visibility })
  await eventually('both exported', async () => (await held()).join() === '1,1')
  await exporter.close()
  const reset = (await jsm.consumers.info(EVENTS_STREAM, MESH_EXPORTER)).config
  await jsm.consumers.delete(EVENTS_STREAM, MESH_EXPORTER)
  await jsm.consumers.add(EVENTS_STREAM, { ...reset, deliver_policy: DeliverPolicy.All })
  exporter = await startExporter(opts)
  await eventually('the reset consumer to read everything', async () => (await jsm.consumers.info(EVENTS_STREAM, MESH_EXPORTER)).num_pending === 0 && (await jsm.consumers.info(EVENTS_STREAM, MESH_EXPORTER)).num_ack_pending === 0)
  t.equal((await jsm.consumers.info(EVENTS_STREAM, MESH_EXPORTER)).delivered.stream_seq, 3, 'the existing consumer kept its position (from the start) rather than being re-created at the end')
  await exporter.close()
  t.same(await held(), [1, 1], 'one copy of each in its outbox')
  const stored = await jsm.streams.getMessage(meshOutboxStream('cluster'), { seq: 1 })
  t.match(stored?.header?.get('Nats-Msg-Id'), /^in:/, "the outbox copy keeps the event's own ingest id")
  t.equal(stored?.subject, 'omni.mesh.cluster.a.a1.test.note-created.v1')
  const config = (await jsm.streams.info(meshOutboxStream('public'))).config
  t.match(config, { subjects: ['omni.mesh.public.a.a1.>'], discard: 'new', max_bytes: 1024 ** 3, max_age: 7 * 24 * 3600 * 1e9, duplicate_window: 600 * 1e9 }, "an outbox refuses when full (1 GiB: JetStream reserves it on disk), keeps a week, and has the duplicate window")
})

// A node that joins the mesh shares what happens from then on, not its retained history at once;
// once created, the exporter keeps its place across restarts, so nothing made while it was down is skipped.
t.test('a new exporter starts at the end of the events stream, an existing one where it was', async (t) => {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  await ensureStreams(jsm)
  await ensureOutboxes(jsm, 'a', 'a1')
  const opts = { js, jsm, publisher, catalog: () => catalog, cluster: 'a', node: 'a1', logger: silentLogger() }
  const outbox = async () => (await jsm.streams.info(meshOutboxStream('cluster'))).state.messages
  const note = (noteId: string) => publishEvent(publisher, catalog, { type: 'note.created', data: { noteId }, visibility: 'cluster' })
  for (let i = 0; i < 5; i++) await note(`history-${i}`)
  let exporter = await startExporter(opts)
  t.equal((await jsm.consumers.info(EVENTS_STREAM, MESH_EXPORTER)).config.deliver_policy, DeliverPolicy.New, 'created with deliver policy new')
  await note('after-join')
  await eventually('the event made after joining to be exported', async () => (await outbox()) === 1)
  await exporter.close()
  await note('while-down')
  exporter = await startExporter(opts)
  await eventually('the event made while the exporter was down to be exported', async () => (await outbox()) === 2)
  await exporter.close()
  t.equal(await outbox(), 2, 'none of the 5 events from before the node joined left it')
  const ids = await Promise.all([1, 2].map(async (seq) => JSON.parse((await jsm.streams.getMessage(meshOutboxStream('cluster'), { seq }))!.string()).data.noteId))
  t.same(ids, ['after-join', 'while-down'])
})
