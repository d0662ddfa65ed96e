// Review m13: the receiver re-encodes a received event with `origin` added (14 bytes more) and
// publishes it to OMNI_EVENTS. An event that just fit a1's events stream (1 MiB) no longer fits
// a2's: the publish fails, the receiver's default onError naks it with backoff, max_deliver -1:
// it is neither admitted nor refused nor dead-lettered, retried forever, counted nowhere.
// (Same for any a1 event larger than a2's own maxMsgSize.)
import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { meshDeadLetters, MESH_RECEIVER } from '../../src/mesh/receiver.ts'
import { meshInboxStream } from '../../src/wire/mod.ts'
import { eventually, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { meshPipeline, startMeshNode } from '../fixtures/mesh-node.ts'

t.setTimeout(90_000)

t.test('an event that fits the sender but not the receiver once origin is added is settled', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const a1 = await startMeshNode(t, topo.a1, servers.a1!, {})
  const a2 = await startMeshNode(t, topo.a2, servers.a2!, { 'pipelines/p.yaml': meshPipeline('cluster') })
  // a producer on NATS (a supported way in) stores an envelope of 1 MiB - 5 bytes on a1: ingest
  // keeps 8 KiB of headroom, a NATS producer need not; a2 may also run a smaller maxMsgSize
  const envelope = (text: string) => JSON.stringify({ specversion: '1.0', id: 'large-1', source: 'omni://a1/producer', type: 'note.created', time: '2026-12-07T00:00:00Z', data: { noteId: 'large-1', text }, tenant: 'default', visibility: 'cluster', idempotencykey: 'large-1' })
  const headers = 'NATS/1.0\r\nNats-Msg-Id: in:7.default:large-1\r\n\r\n'.length
  const text = 'a'.repeat(1024 * 1024 - envelope('').length - headers - 10)
  await a1.fabric.js.publish('omni.evt.test.note-created.v1', envelope(text), { msgID: 'in:7.default:large-1' })
  const stored = await a1.fabric.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: 'omni.evt.test.note-created.v1' })
  t.comment(`stored on a1: ${stored!.data.length} bytes`)
  await eventually("a2's inbox to hold it", async () => (await a2.fabric.jsm.streams.info(meshInboxStream('a1'))).state.messages >= 1)
  await delay(8000)
  const letters = await listDeadLetters(a2.fabric.jsm, a2.fabric.js, { pipeline: meshDeadLetters('a1') })
  const c = await a2.fabric.jsm.consumers.info(meshInboxStream('a1'), MESH_RECEIVER)
  t.comment(`a2 settled ${a2.done.length}, dead letters ${letters.length}, receiver ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}, delivered ${c.delivered.stream_seq}`)
  t.ok(a2.done.length === 1 || letters.length === 1, 'a2 admitted it or refused it with a dead letter')
  t.equal(c.num_ack_pending, 0, 'nothing stuck in redelivery on the receiver')
})
