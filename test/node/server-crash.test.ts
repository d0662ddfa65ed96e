import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { DLQ_STREAM, ensureStreams } from '../../src/jetstream/topology.ts'
import { loadManifestsOrThrow } from '../../src/manifests/load.ts'
import { eventually, startTestFabric, storedOn } from '../fixtures/fabric.ts'
import { TEST_CATALOG, TEST_SOURCE, testLookup, writeManifests } from '../fixtures/manifests.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { noteIds, pipelineConsumer, readAll, repeated, sleep, startProducer } from '../fixtures/runtime.ts'

// about 15–25 s on an idle 2-core machine; the bound leaves room for a loaded one
t.setTimeout(90_000)

const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [${TEST_SOURCE}]
stages:
  - { id: rec, uses: test.record, with: { ms: 2 } }
outputs:
  - subject: ${OUT}
`

/** Resolves on the connection's next successful reconnect (or false after `ms`). */
async function reconnected(nc: NatsConnection, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))
  const back = (async () => {
    for await (const s of nc.status()) if (s.type === 'reconnect') return true
    return false
  })()
  const ok = await Promise.race([back, late])
  clearTimeout(timer)
  return ok
}

t.test('nats-server killed with SIGKILL and restarted loses no acknowledged event', async (t) => {
  const server = await startTestNats(t, { syncInterval: 'always' })
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG })
  const { catalog } = await loadManifestsOrThrow(dir, testLookup)
  const nc = await connectTest(t, server, 'producer')
  await ensureStreams(await jetstreamManager(nc))
  const publisher = createPublisher(nc, { timeoutMs: 2000 })
  t.teardown(() => publisher.close())

  // paced well below what the server takes, so the producer spans the whole crash
  const producer = startProducer((noteId) => publishEvent(publisher, catalog, { type: 'note.created', data: { noteId } }), {
    count: 20_000,
    prefix: 'note-',
    perTick: 10,
    tickMs: 5,
  })
  t.ok(await eventually(() => producer.acked.size >= 1000, 20_000), 'publishing is under way')
  const back = reconnected(nc, 25_000)
  const attemptedAtKill = producer.attempted()
  server.kill('SIGKILL')
  await server.closed()
  t.notOk(server.running, 'the server is dead')
  await sleep(300) // the producer keeps going against a dead server
  await server.restart()
  t.ok(await back, 'the producer connection reconnected by itself')
  const ackedAtReconnect = producer.acked.size
  t.ok(await eventually(() => producer.acked.size >= ackedAtReconnect + 200, 10_000), 'publishes are acknowledged again after the restart')
  await producer.stop()
  t.ok(producer.attempted() > attemptedAtKill, `${producer.attempted() - attemptedAtKill} publishes were started after the kill`)
  t.equal(producer.acked.size + producer.failed.size, producer.attempted(), 'every publish settled')
  t.comment(`acked ${producer.acked.size}, failed ${producer.failed.size}, attempted ${producer.attempted()} (${attemptedAtKill} before the kill)`)

  // a fresh connection to the restarted server sees the stream as it is on disk
  const nc2 = await connectTest(t, server, 'verifier')
  const jsm = await jetstreamManager(nc2)
  const stored = await storedOn(jsm, TEST_SOURCE)
  t.ok(stored >= producer.acked.size, `${stored} stored >= ${producer.acked.size} acknowledged`)
  const ids = noteIds(await readAll(jetstream(nc2), jsm, TEST_SOURCE))
  t.equal(ids.length, stored, 'every stored event was read back')
  t.same(repeated(ids), {}, 'no event is stored twice')
  const present = new Set(ids)
  const lost = [...producer.acked].filter((id) => !present.has(id))
  t.same(lost, [], 'every acknowledged event is in the stream')
})

t.test("the fabric's worker keeps going across a nats-server crash: every acknowledged event gets exactly one output", async (t) => {
  const server = await startTestNats(t, { syncInterval: 'always' })
  const { fabric, settled } = await startTestFabric(t, PIPELINE, { server, ackWaitMs: 1500, maxInFlight: 8, batch: 64 })
  const nc = await connectTest(t, server, 'producer')
  const publisher = createPublisher(nc, { timeoutMs: 2000 })
  t.teardown(() => publisher.close())
  const catalog = fabric.catalog()

  const publish = (noteId: string) => publishEvent(publisher, catalog, { type: 'note.created', data: { noteId } })
  // a backlog first, so the crash surely finds the worker with work left; then a steady producer
  const backlog = Array.from({ length: 2000 }, (_, i) => `backlog-${i}`)
  await Promise.all(backlog.map(publish))
  const producer = startProducer(publish, { count: 10_000, prefix: 'note-', perTick: 5, tickMs: 5 })
  const fabricBack = reconnected(fabric.nc, 25_000)
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, OUT)) >= 300, 20_000), 'the worker is producing outputs')
  const atKill = await pipelineConsumer(fabric.jsm, 'notes')
  server.kill('SIGKILL')
  await server.closed()
  t.ok(atKill.num_pending + atKill.num_ack_pending > 0, `killed mid-processing: ${atKill.num_pending + atKill.num_ack_pending} events not yet acknowledged`)
  await sleep(300)
  await server.restart()
  t.ok(await fabricBack, "the fabric's connection reconnected by itself")
  const ackedAtReconnect = producer.acked.size
  t.ok(await eventually(() => producer.acked.size >= ackedAtReconnect + 200, 10_000), 'the producer publishes again')
  await producer.stop()
  t.comment(`acked ${producer.acked.size}, failed ${producer.failed.size}, attempted ${producer.attempted()}`)

  const nc2 = await connectTest(t, server, 'verifier')
  const jsm = await jetstreamManager(nc2)
  const js = jetstream(nc2)
  const inputs = await storedOn(jsm, TEST_SOURCE)
  t.ok(inputs >= backlog.length + producer.acked.size, 'every acknowledged input is stored')
  const done = await eventually(async () => {
    const info = await pipelineConsumer(jsm, 'notes')
    return info.num_pending === 0 && info.num_ack_pending === 0 && (await storedOn(jsm, OUT)) >= inputs
  }, 40_000)
  t.ok(done, 'the worker settled every stored event')
  await sleep(2000) // past the ack deadline: a late redelivery would show now

  t.equal(fabric.workers()[0]?.state, 'running', 'the worker is still running')
  t.equal(fabric.state, 'running', 'the fabric is still running')
  const outputs = noteIds(await readAll(js, jsm, OUT))
  t.same(repeated(outputs), {}, 'no event has two outputs')
  const have = new Set(outputs)
  t.same([...backlog, ...producer.acked].filter((id) => !have.has(id)), [], 'every acknowledged event has its output')
  const storedIds = new Set(noteIds(await readAll(js, jsm, TEST_SOURCE)))
  t.same(outputs.filter((id) => !storedIds.has(id)), [], 'and there is no output without its input')
  t.equal(outputs.length, inputs, 'one output per stored input')
  t.equal((await jsm.streams.info(DLQ_STREAM)).state.messages, 0, 'nothing was dead-lettered')
  const retries = settled.filter((s) => s.type === 'retry')
  t.comment(`retries during the outage: ${retries.length}${retries[0]?.type === 'retry' ? ` (first: ${retries[0].stage}: ${retries[0].error})` : ''}`)
})
