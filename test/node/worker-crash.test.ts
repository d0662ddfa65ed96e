import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { loadManifestsOrThrow } from '../../src/manifests/load.ts'
import { eventually, storedOn } from '../fixtures/fabric.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { noteIds, pipelineConsumer, readAll, repeated, sleep, spawnWorker, type WorkerChild } from '../fixtures/runtime.ts'

// about 15–25 s on an idle 2-core machine; the bound leaves room for a loaded one
t.setTimeout(90_000)

const N = 3000
const OUT = 'omni.evt.test.note-seen.v1'
const ACK_WAIT_MS = 1500
const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: rec, uses: test.record, with: { ms: 2 } }
outputs:
  - subject: ${OUT}
`

/**
 * Runs `workers` worker processes on one shared consumer, SIGKILLs the first one while it is
 * mid-stream, lets the others (or a replacement) finish, and checks every event has exactly one
 * output.
 */
async function crashRun(t: Test, workers: number): Promise<void> {
  const server = await startTestNats(t)
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG, 'pipelines/p.yaml': PIPELINE })
  const { catalog } = await loadManifestsOrThrow(dir, testLookup)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())

  // a small in-flight bound slows each worker down enough to be caught mid-stream
  const running: WorkerChild[] = []
  for (let i = 0; i < workers; i++) running.push(spawnWorker(t, server.url, dir, { maxInFlight: 8, batch: 64, ackWaitMs: ACK_WAIT_MS }))
  await Promise.all(running.map((w) => w.ready))

  const ids = Array.from({ length: N }, (_, i) => `note-${i}`)
  const acks = await Promise.all(ids.map((noteId) => publishEvent(publisher, catalog, { type: 'note.created', data: { noteId } })))
  t.equal(acks.filter((a) => a.ack.duplicate).length, 0, 'every input was stored once')

  const victim = running[0] as WorkerChild
  t.ok(await eventually(async () => (await storedOn(jsm, OUT)) >= N / 10, 20_000), 'the worker started producing outputs')
  process.kill(victim.pid, 'SIGKILL')
  t.equal(await victim.exited, 'SIGKILL', 'the worker died by SIGKILL')
  await sleep(100) // publishes it already handed to the server land
  const atKill = await pipelineConsumer(jsm, 'notes')
  const outputsAtKill = await storedOn(jsm, OUT)
  t.ok(outputsAtKill > 0 && outputsAtKill < N, `killed mid-stream: ${outputsAtKill} of ${N} outputs were stored`)
  t.ok(atKill.num_ack_pending > 0, `the dead worker left ${atKill.num_ack_pending} deliveries unacknowledged`)
  // invariant 1, event by event: whatever the dead worker went on to acknowledge already has its output
  const noteOfSeq = new Map(acks.map((a) => [a.ack.seq, String(a.event.data['noteId'])]))
  const victimAcked = [...victim.acking()].map((seq) => noteOfSeq.get(seq))
  const storedNow = new Set(noteIds(await readAll(js, jsm, OUT)))
  t.ok(victimAcked.length > 0, `the dead worker acknowledged ${victimAcked.length} events before it died`)
  t.same(victimAcked.filter((id) => id === undefined || !storedNow.has(id)), [], 'each of them had its output stored before its ack')

  const survivors = running.slice(1)
  if (survivors.length === 0) {
    const replacement = spawnWorker(t, server.url, dir, { maxInFlight: 8, batch: 64, ackWaitMs: ACK_WAIT_MS })
    await replacement.ready
    survivors.push(replacement)
  }

  const settled = await eventually(async () => {
    const info = await pipelineConsumer(jsm, 'notes')
    return info.num_pending === 0 && info.num_ack_pending === 0 && (await storedOn(jsm, OUT)) >= N
  }, 30_000)
  t.ok(settled, 'every event was acknowledged')
  // wait past the ack deadline: a redelivery still under way would show up now
  await sleep(ACK_WAIT_MS + 500)

  const info = await pipelineConsumer(jsm, 'notes')
  t.equal(info.num_pending + info.num_ack_pending, 0, 'nothing left to deliver')
  t.ok(info.delivered.consumer_seq > N, `${info.delivered.consumer_seq - N} deliveries were redeliveries after the crash`)
  t.equal(await storedOn(jsm, OUT), N, 'exactly N outputs')
  const outputs = noteIds(await readAll(js, jsm, OUT))
  t.same(repeated(outputs), {}, 'no note has two outputs')
  t.same([...outputs].sort(), [...ids].sort(), 'every note has its output')

  for (const w of survivors) {
    t.equal(await w.stop(), 0, `worker ${w.pid} stopped cleanly`)
    t.match(w.stats(), [{ name: 'notes', state: 'stopped', inFlight: 0 }], 'and drained its work')
  }
  // every event was acknowledged by someone; events acknowledged twice are redeliveries whose
  // second output the stream's duplicate window dropped. Each ack is recorded just before it is
  // sent, so a kill in between cannot hide an ack the server got (CI caught that race once).
  const all = [victim, ...survivors]
  const ackCounts = all.map((w) => w.acking().size)
  const ackedOnce = new Set(all.flatMap((w) => [...w.acking()]))
  t.equal(ackedOnce.size, N, 'every event was acknowledged by a worker')
  t.comment(`acks per worker ${JSON.stringify(ackCounts)} (sum ${ackCounts.reduce((a, b) => a + b, 0)}), outputs at kill ${outputsAtKill}, redeliveries ${info.delivered.consumer_seq - N}`)
}

t.test('a worker killed mid-stream and restarted loses nothing and duplicates nothing', (t) => crashRun(t, 1))

t.test('two workers share the consumer; one killed mid-stream, the other finishes without loss or duplicates', (t) => crashRun(t, 2))
