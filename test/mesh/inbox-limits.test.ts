// An inbox has the events stream's limits: a byte limit that refuses new messages (discard new)
// and the same max age. Sourcing into a full inbox must wait, not skip: once room comes back
// (old events age out, here a purge of the oldest), it carries on where it stopped, nothing lost.
import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { ensureInboxes } from '../../src/mesh/inbox.ts'
import { ensureOutboxes } from '../../src/mesh/outbox.ts'
import { meshInboxStream, meshOutboxSubject, sourcedSequence, STREAM_SOURCE_HEADER } from '../../src/wire/mod.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'

t.setTimeout(90_000)

t.test('a full inbox pauses its sourcing and resumes without loss once there is room', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const conn = async (name: 'a1' | 'a2') => {
    const nc = await connectNats(servers[name]!.url, { name: `test-${name}`, credentials: MESH_PLATFORM })
    t.teardown(() => nc.close())
    return nc
  }
  const a1 = await conn('a1')
  const jsA1 = jetstream(a1)
  const jsmA2 = await jetstreamManager(await conn('a2'))
  await ensureOutboxes(await jetstreamManager(a1), 'a', 'a1')
  const maxBytes = 16 * 1024
  await ensureInboxes(jsmA2, 'a', 'a2', [{ node: 'a1', cluster: 'a' }], { maxBytes, maxAgeMs: 3_600_000 })
  const inbox = meshInboxStream('a1')
  const config = (await jsmA2.streams.info(inbox)).config
  t.match(config, { max_bytes: maxBytes, discard: 'new', max_age: 3_600 * 1e9 }, "the inbox has the node's limits")

  const total = 60
  const body = 'x'.repeat(1024)
  for (let i = 1; i <= total; i++) await jsA1.publish(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.note-created.v1'), body, { msgID: `in:1.t:${i}` })
  // it fills up and stays there: the source waits rather than dropping what does not fit
  let held = 0
  await eventually('the inbox to fill up', async () => {
    const before = held
    held = (await jsmA2.streams.info(inbox)).state.messages
    return held > 0 && held === before
  })
  const full = await jsmA2.streams.info(inbox)
  t.comment(`full: ${full.state.messages} messages, ${full.state.bytes} bytes; source lag ${full.sources?.map((s) => `${s.name}:${s.lag}`).join(',')}`)
  t.ok(full.state.messages < total, 'not everything fits')
  t.ok(full.state.bytes <= maxBytes, 'the byte limit holds')

  // room comes back (as when old events age out): the oldest are removed, a round at a time;
  // every outbox sequence must be seen once, in order, across the rounds
  const seen: number[] = []
  const collect = async () => {
    const info = await jsmA2.streams.info(inbox)
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsmA2.streams.getMessage(inbox, { seq }).catch(() => undefined)
      const s = sourcedSequence(m?.header.get(STREAM_SOURCE_HEADER))
      if (s !== undefined && s > (seen.at(-1) ?? 0)) seen.push(s)
    }
    return info
  }
  for (let round = 0; round < 12 && seen.at(-1) !== total; round++) {
    const before = await collect()
    await jsmA2.streams.purge(inbox, { keep: 1 })
    // the source carries on by itself: more arrive after the room came back
    await eventually(`round ${round}: more events after the purge`, async () => (await jsmA2.streams.info(inbox)).state.last_seq > before.state.last_seq || before.state.last_seq === total, 20_000)
    await eventually(`round ${round}: the inbox to settle`, async () => {
      const n = (await jsmA2.streams.info(inbox)).state.last_seq
      await new Promise((r) => setTimeout(r, 300))
      return n === (await jsmA2.streams.info(inbox)).state.last_seq
    })
  }
  await collect()
  const info = await jsmA2.streams.info(inbox)
  t.comment(`inbox seq ${info.state.first_seq}..${info.state.last_seq}; outbox sequences seen ${seen.length}`)
  t.same(seen, Array.from({ length: total }, (_, i) => i + 1), 'every outbox event arrived once, in order, with no gap')
  t.equal(info.state.last_seq, total, 'the inbox stored each once')
  t.equal(info.sources?.find((x) => x.name === 'MESH_CLUSTER')?.lag, 0, 'nothing left behind')
})
