// A peer's outbox recreated (a wiped store) starts at sequence 1 again; the inbox's source keeps
// waiting for the sequence after the last it got. How the hello's marks tell the receiving node,
// and that a recreated inbox sources the new outbox from its start.
import t from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { ensureInboxes } from '../../src/mesh/inbox.ts'
import { ensureOutboxes, readOutboxMarks } from '../../src/mesh/outbox.ts'
import { outboxChecker, recordEpochs, recreateInbox } from '../../src/mesh/peer-reset.ts'
import { meshInboxStream, meshOutboxStream, meshOutboxSubject } from '../../src/wire/mod.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'

t.setTimeout(90_000)

t.test('a recreated outbox is found by its epoch, or by its sequence on two hellos, and a fresh inbox sources it', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const conn = async (name: 'a1' | 'a2') => {
    const nc = await connectNats(servers[name]!.url, { name: `test-${name}`, credentials: MESH_PLATFORM })
    t.teardown(() => nc.close())
    return nc
  }
  const a1 = await conn('a1')
  const jsA1 = jetstream(a1)
  const jsmA1 = await jetstreamManager(a1)
  const jsmA2 = await jetstreamManager(await conn('a2'))
  const peer = { node: 'a1', cluster: 'a' }
  const inbox = meshInboxStream('a1')
  const held = async () => (await jsmA2.streams.info(inbox)).state.messages
  const send = (n: number, tag: string) => Promise.all(Array.from({ length: n }, (_, i) => jsA1.publish(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.note-created.v1'), `${tag}-${i}`, { msgID: `in:1.t:${tag}-${i}` })))
  const wipe = async () => {
    await jsmA1.streams.delete(meshOutboxStream('cluster'))
    await ensureOutboxes(jsmA1, 'a', 'a1')
  }
  await ensureOutboxes(jsmA1, 'a', 'a1')
  await ensureInboxes(jsmA2, 'a', 'a2', [peer])
  const check = outboxChecker(jsmA2, 'a', peer)
  await send(5, 'first')
  await eventually('the inbox to hold 5', async () => (await held()) === 5)

  const first = await check(await readOutboxMarks(jsmA1))
  t.equal(first.type, 'adopt', 'an inbox that recorded no epoch yet adopts the outbox’s')
  if (first.type === 'adopt') await recordEpochs(jsmA2, peer, first.metadata)
  t.same(await check(await readOutboxMarks(jsmA1)), { type: 'same' }, 'the same outbox: nothing to do')

  await wipe()
  await send(3, 'second')
  await delay(2000)
  t.equal(await held(), 5, 'the inbox source does not pick up the new outbox by itself within 2 s')

  const byEpoch = await check(await readOutboxMarks(jsmA1))
  t.match(byEpoch, { type: 'reset', why: /cluster outbox was recreated/ }, 'another epoch: reset at the first hello')
  if (byEpoch.type !== 'reset') return
  t.equal(byEpoch.resumeAt.cluster, undefined, 'the new outbox is sourced from its start')
  await recreateInbox(jsmA2, 'a', 'a2', peer, byEpoch, {})
  await eventually('the fresh inbox to hold the 3 new events', async () => (await held()) === 3)

  // an inbox that recorded no epoch (made before epochs existed): the sequence tells, on the second hello
  await recordEpochs(jsmA2, peer, {})
  await wipe()
  await send(1, 'third')
  const suspect = await check(await readOutboxMarks(jsmA1))
  t.equal(suspect.type, 'adopt', 'one hello behind what was sourced is not enough: events may have been sourced after it was sent')
  const bySeq = await check(await readOutboxMarks(jsmA1))
  t.match(bySeq, { type: 'reset', why: /ends at sequence 1, below the 3/ }, 'the next hello still behind: reset')
  if (bySeq.type !== 'reset') return
  await recreateInbox(jsmA2, 'a', 'a2', peer, bySeq, {})
  await eventually('the fresh inbox to hold the new event', async () => (await held()) === 1)
  t.equal((await jsmA2.streams.info(inbox)).config.metadata?.omni_mesh_epoch_cluster, (await readOutboxMarks(jsmA1)).cluster?.epoch, 'the fresh inbox records the new epoch')
})
