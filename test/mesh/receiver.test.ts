import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { meshDeadLetters } from '../../src/mesh/receiver.ts'
import { nodeInternals } from '../../src/node/internals.ts'
import { meshMetrics } from '../../src/observability/metrics.ts'
import { meshOutboxStream, meshOutboxSubject, meshOutboxSubjects } from '../../src/wire/mod.ts'
import { readSubject, storedOn } from '../fixtures/fabric.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { MESH_CATALOG_WITH_PRIVATE, meshPipeline, startMeshNode } from '../fixtures/mesh-node.ts'

const SUBJECT = 'omni.evt.test.note-created.v1'
const envelope = (noteId: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: `id-${noteId}`,
  source: 'omni://rogue',
  type: 'note.created',
  time: '2026-12-07T00:00:00Z',
  data: { noteId },
  tenant: 'default',
  visibility: 'cluster',
  idempotencykey: noteId,
  ...extra,
})
const refusedCount = async (peer: string, reason: string) => (await meshMetrics.refused.get()).values.find((v) => v.labels['peer'] === peer && v.labels['reason'] === reason)?.value ?? 0

// A rogue process on a1 writes into a1's own outbox (it owns that server): what it claims in a
// subject or an envelope is checked against the link the message really came over.
t.test('a forged origin, a tenant the peer may not write to or a wrong visibility is refused, counted and dead-lettered', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const a1 = await startMeshNode(t, topo.a1, servers.a1!, {})
  const a2 = await startMeshNode(t, topo.a2, servers.a2!, { 'pipelines/p.yaml': meshPipeline('any') })
  const before = { forged: await refusedCount('a1', 'forged-origin'), visibility: await refusedCount('a1', 'visibility'), tenant: await refusedCount('a1', 'tenant') }

  const rogue = await connectNats(servers.a1!.url, { name: 'rogue-a1', credentials: MESH_PLATFORM })
  t.teardown(() => rogue.close())
  // the rogue widens its cluster outbox to capture subjects of another node of the cluster
  const info = await a1.fabric.jsm.streams.info(meshOutboxStream('cluster'))
  await a1.fabric.jsm.streams.update(meshOutboxStream('cluster'), { ...info.config, subjects: [meshOutboxSubjects('cluster', 'a', 'a1'), meshOutboxSubjects('cluster', 'a', 'hub-a')] })
  const js = jetstream(rogue)
  const send = (subject: string, body: unknown) => js.publish(subject, JSON.stringify(body))
  await send(meshOutboxSubject('cluster', 'a', 'hub-a', SUBJECT), envelope('as-hub-a'))
  await send(meshOutboxSubject('cluster', 'a', 'a1', SUBJECT), envelope('says-public', { visibility: 'public' }))
  await send(meshOutboxSubject('cluster', 'a', 'a1', SUBJECT), envelope('with-origin', { origin: 'hub-a' }))
  await send(meshOutboxSubject('public', 'a', 'a1', SUBJECT), envelope('cluster-in-public'))
  // a2's entry for a1 names no tenants: a1's events land in a2's tenant default only
  await send(meshOutboxSubject('cluster', 'a', 'a1', SUBJECT), envelope('into-acme', { tenant: 'acme' }))
  await send(meshOutboxSubject('cluster', 'a', 'a1', SUBJECT), envelope('honest'))

  await eventually('a2 to settle the honest event', () => a2.done.length >= 1)
  await eventually("a2's five dead letters", async () => (await listDeadLetters(a2.fabric.jsm, a2.fabric.js, { pipeline: meshDeadLetters('a1') })).length >= 5)
  await delay(500)
  t.same(a2.done.map((e) => [e.data['noteId'], e.origin]), [['honest', 'a1']], 'only the honest event reached a pipeline')
  const letters = await listDeadLetters(a2.fabric.jsm, a2.fabric.js, { pipeline: meshDeadLetters('a1') })
  const byNote = Object.fromEntries(letters.map((l) => [(JSON.parse(new TextDecoder().decode(l.data)) as { data: { noteId: string } }).data.noteId, l.stage]))
  t.same(byNote, { 'as-hub-a': 'forged-origin', 'says-public': 'visibility', 'with-origin': 'forged-origin', 'cluster-in-public': 'visibility', 'into-acme': 'tenant' }, 'each forgery is dead-lettered with its reason')
  t.match(letters.find((l) => l.stage === 'forged-origin' && l.error.includes('hub-a'))?.error, /claims node hub-a .* link of a1/, 'the dead letter says what was claimed and which link it came over')
  t.equal((await refusedCount('a1', 'forged-origin')) - before.forged, 2, 'two forged origins counted')
  t.equal((await refusedCount('a1', 'visibility')) - before.visibility, 2, 'two wrong visibilities counted')
  t.equal((await refusedCount('a1', 'tenant')) - before.tenant, 1, 'one tenant a1 may not write to counted')
  t.match(letters.find((l) => l.stage === 'tenant')?.error, /names tenant "acme", which a1 may not write to on this node \(its peers entry allows default\)/)
  t.equal(await storedOn(a2.fabric.jsm, 'omni.rcv.>'), 1, 'a2 stored only the honest event')
  const receipts = nodeInternals(a2.fabric.node).mesh?.data.receipts().get('a1')
  t.match(receipts, { admitted: 1, refused: { 'forged-origin': 2, visibility: 2, tenant: 1 }, lastAdmittedAt: Number }, "a2's receipts from a1, for mesh status")
})

t.test('received events meet guard.trust and the catalog before any pipeline', async (t) => {
  const topo = await meshTopology()
  const a2Config = { ...topo.a2, trust: { rules: [{ when: "event.data.text == 'suspect'", outcome: 'quarantine' as const, reason: 'suspect text' }, { when: "event.data.text == 'spam'", outcome: 'reject' as const }] } }
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: a2Config })
  const a1 = await startMeshNode(t, topo.a1, servers.a1!, { 'catalog.yaml': MESH_CATALOG_WITH_PRIVATE })
  const a2 = await startMeshNode(t, a2Config, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster') })
  const before = { quarantine: await refusedCount('a1', 'quarantine'), reject: await refusedCount('a1', 'reject'), catalog: await refusedCount('a1', 'catalog') }

  for (const [noteId, text] of [['q', 'suspect'], ['r', 'spam'], ['ok', 'fine']]) await a1.fabric.node.ingest.event({ type: 'note.created', data: { noteId, text }, visibility: 'cluster' })
  await a1.fabric.node.ingest.event({ type: 'note.archived', data: { noteId: 'unknown-to-a2' }, visibility: 'cluster' })

  await eventually('a2 to settle the accepted event', () => a2.done.length >= 1)
  await eventually('the refusals to be counted', async () => (await refusedCount('a1', 'catalog')) - before.catalog >= 1 && (await refusedCount('a1', 'quarantine')) - before.quarantine >= 1 && (await refusedCount('a1', 'reject')) - before.reject >= 1)
  await delay(500)
  t.same(a2.done.map((e) => e.data['noteId']), ['ok'], 'only the accepted event reached the pipeline')
  const quarantined = await storedOn(a2.fabric.jsm, 'omni.evt.omni.quarantined.v1')
  t.equal(quarantined, 1, 'the quarantine published its omni.event.quarantined event')
  const [record] = await readSubject(a2.fabric, 'omni.evt.omni.quarantined.v1')
  t.equal(record?.['tenant'], 'default', "the record stays in the event's tenant, one a1 may write to")
  const letters = await listDeadLetters(a2.fabric.jsm, a2.fabric.js, { pipeline: meshDeadLetters('a1') })
  t.same(letters.map((l) => l.stage).sort(), ['catalog', 'reject'], 'the rejected event and the type unknown to a2 are dead-lettered; the quarantined one has its own record')
  t.match(letters.find((l) => l.stage === 'catalog')?.error, /note\.archived" is not in the catalog/, "the catalog refusal names the type a2's catalog lacks")
  t.equal(await storedOn(a2.fabric.jsm, 'omni.rcv.>'), 1, 'a2 stored only the accepted event as received')
  // a quarantine record stays home
  t.equal((await a2.fabric.jsm.streams.info(meshOutboxStream('cluster'))).state.messages, 0, "a2's outbox holds no quarantine record")
})
