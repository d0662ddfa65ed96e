// A stage that needs the platform's own NATS (guard.dedup reads the omni-dedup bucket) while
// that bucket does not answer: the CI failure of stop 25. With one of three servers SIGKILLed,
// the bucket's leader election outlasted a pipeline's short backoff, the deliveries ran out and
// events that did nothing wrong were dead-lettered. Here the bucket is gone for many deliveries.
import { Kvm } from '@nats-io/kv'
import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { DEDUP_BUCKET } from '../../src/jetstream/dedup-store.ts'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { eventually, startTestFabric, storedOn } from '../fixtures/fabric.ts'

const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 2, backoff: [50ms] }
stages:
  - { id: dedup, uses: guard.dedup }
  - { id: flaky, uses: test.flaky, needs: [dedup] }
outputs:
  - subject: ${OUT}
`

t.test('the dedup bucket not answering for many deliveries: nothing is dead-lettered, and a real failure after it still has its whole budget', async (t) => {
  const { fabric, settled } = await startTestFabric(t, PIPELINE)
  await fabric.jsm.streams.delete(`KV_${DEDUP_BUCKET}`)
  // b fails for real on its first attempt that reaches the stage: it needs both of its deliveries
  const ids = ['a', 'b', 'c']
  const published = await Promise.all(ids.map((noteId) => publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId, ...(noteId === 'b' ? { fail: 1 } : {}) } })))
  const seqs = published.map((p) => p.ack.seq)
  const outageRetries = (seq: number) => settled.filter((s) => s.type === 'retry' && s.seq === seq && s.stage === 'dedup').length
  t.ok(await eventually(() => seqs.every((seq) => outageRetries(seq) >= 4), 15_000), 'every event met the outage on 4 deliveries or more, twice its maxDeliveries')
  const retries = settled.filter((s) => s.type === 'retry' && s.stage === 'dedup')
  t.ok(retries.every((r) => r.type === 'retry' && r.attempt === 1 && /OMNI_ERR_NATS_UNAVAILABLE.*omni-dedup/.test(r.error)), 'each is attempt 1, failed on the dedup store not answering')
  t.equal(settled.filter((s) => s.type === 'dead-lettered').length, 0, 'nothing was dead-lettered')
  t.equal((await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes' })).length, 0, 'the dead letters are empty')
  t.equal(await storedOn(fabric.jsm, OUT), 0, 'and nothing was published')

  // the bucket comes back (as after a leader election): every event goes through
  await new Kvm(fabric.js).create(DEDUP_BUCKET, { history: 1 })
  t.ok(await eventually(() => settled.filter((s) => s.type === 'acked').length === 3, 15_000), 'all three are acknowledged')
  t.equal(await storedOn(fabric.jsm, OUT), 3, 'one output each')
  t.equal(settled.filter((s) => s.type === 'dead-lettered').length, 0, 'still nothing dead-lettered')
  const b = settled.find((s) => s.type === 'acked' && s.seq === seqs[1])
  t.match(b, { outcome: { type: 'done', labels: { flakyAttempt: 2 } } }, "b failed once for real and passed at its second attempt: the outage's deliveries were not counted")
  t.ok(settled.some((s) => s.type === 'retry' && s.seq === seqs[1] && s.stage === 'flaky' && s.attempt === 1), "b's real failure was its attempt 1")
})

t.test('a real failure is still dead-lettered at maxDeliveries', async (t) => {
  const { fabric, settled } = await startTestFabric(t, PIPELINE)
  const { ack } = await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'd', fail: 9 } })
  t.ok(await eventually(() => settled.some((s) => s.type === 'dead-lettered' && s.seq === ack.seq), 10_000), 'dead-lettered')
  t.match(settled.filter((s) => s.seq === ack.seq), [
    { type: 'retry', attempt: 1, stage: 'flaky' },
    { type: 'dead-lettered', attempt: 2, stage: 'flaky' },
  ])
})

t.test('an event that fails for real after an outage is dead-lettered after its own attempts, and its letter says how many', async (t) => {
  const { fabric, settled } = await startTestFabric(t, PIPELINE)
  await fabric.jsm.streams.delete(`KV_${DEDUP_BUCKET}`)
  const { ack } = await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'e', fail: 9 } })
  t.ok(await eventually(() => settled.filter((s) => s.type === 'retry' && s.seq === ack.seq && s.stage === 'dedup').length >= 3, 15_000), 'three outage deliveries')
  await new Kvm(fabric.js).create(DEDUP_BUCKET, { history: 1 })
  t.ok(await eventually(() => settled.some((s) => s.type === 'dead-lettered' && s.seq === ack.seq), 15_000), 'dead-lettered once the bucket is back')
  t.same(settled.filter((s) => s.seq === ack.seq && !(s.type === 'retry' && s.stage === 'dedup')).map((s) => [s.type, s.type === 'acked' ? 0 : s.attempt]), [
    ['retry', 1],
    ['dead-lettered', 2],
  ], 'its real failures are attempts 1 and 2')
  t.match(settled.filter((s) => s.seq === ack.seq && !(s.type === 'retry' && s.stage === 'dedup')), [
    { type: 'retry', attempt: 1, stage: 'flaky' },
    { type: 'dead-lettered', attempt: 2, stage: 'flaky' },
  ])
  const [letter] = await listDeadLetters(fabric.jsm, fabric.js, { pipeline: 'notes' })
  t.equal(letter?.attempts, 2, 'the letter records 2 attempts, not its 5 or more deliveries')
})
