import type { JsMsg } from '@nats-io/jetstream'
import t from 'tap'
import type { AckPublisher } from '../../src/jetstream/publisher-types.ts'
import { backoffFor, deadLetterAndTerm, DEFAULT_RETRY_POLICY, mayRetry, retryLater, retrySoon } from '../../src/jetstream/settle.ts'

/** A message that records how it was settled. */
function msg(attempt: number) {
  const settled: string[] = []
  const m = {
    subject: 'omni.evt.test.x.v1',
    data: new Uint8Array([1]),
    headers: undefined,
    info: { deliveryCount: attempt, streamSequence: 9 },
    nak: (ms?: number) => settled.push(`nak ${ms}`),
    term: (reason?: string) => settled.push(`term ${reason}`),
  }
  return { m: m as unknown as JsMsg, settled }
}

const policy = { maxDeliveries: 3, backoffMs: [50, 100] }

t.test('backoff: one wait per attempt, the last repeating; the default policy when none is given', async (t) => {
  t.same([1, 2, 3, 9].map((a) => backoffFor(policy, a)), [50, 100, 100, 100])
  t.equal(backoffFor(policy, 0), 50, 'an attempt below one counts as the first')
  t.equal(backoffFor({ maxDeliveries: 1, backoffMs: [] }, 2), DEFAULT_RETRY_POLICY.backoffMs[1])
  t.same(DEFAULT_RETRY_POLICY, { maxDeliveries: 5, backoffMs: [1000, 5000, 30_000] })
  t.ok(Object.isFrozen(DEFAULT_RETRY_POLICY) && Object.isFrozen(DEFAULT_RETRY_POLICY.backoffMs))
})

t.test('a failure is retried while it may pass and deliveries are left', async (t) => {
  t.ok(mayRetry(policy, 2, false))
  t.notOk(mayRetry(policy, 3, false), 'the budget is spent at maxDeliveries')
  t.notOk(mayRetry(policy, 1, true), 'a permanent failure never is')
  const later = msg(2)
  t.equal(retryLater(later.m, policy), 100)
  const soon = msg(2)
  retrySoon(soon.m, policy)
  t.same([later.settled, soon.settled], [['nak 100'], ['nak 50']], 'retrySoon waits the first backoff, whatever the attempt')
})

t.test('dead-lettering: the letter first, then the term; a refused letter or record leaves the message for later', async (t) => {
  const sent: { subject: string; id?: string; headers?: Record<string, string> }[] = []
  const ok: AckPublisher = { publish: async (subject, _data, o) => (sent.push({ subject, ...(o?.msgID ? { id: o.msgID } : {}), ...(o?.headers ? { headers: o.headers } : {}) }), { stream: 'OMNI_DLQ', seq: 1, duplicate: false }) }
  const plan = { publisher: ok, policy, pipeline: 'notes', stage: 'enrich', error: 'boom' }

  const a = msg(3)
  t.equal(await deadLetterAndTerm(a.m, plan), true)
  t.same(a.settled, ['term dead-lettered at stage enrich'])
  t.match(sent[0], { subject: 'omni.dlq.notes', id: 'dlq:notes:9', headers: { 'Omni-Stage': 'enrich', 'Omni-Error': 'boom', 'Omni-Attempts': '3' } })

  const refused = msg(3)
  t.equal(await deadLetterAndTerm(refused.m, { ...plan, publisher: { publish: () => Promise.reject(new Error('stream down')) } }), false)
  t.same(refused.settled, ['nak 50'], 'never dropped: nak for another try')

  const order: string[] = []
  const later = msg(3)
  t.equal(await deadLetterAndTerm(later.m, { ...plan, beforeTerm: async () => (order.push(`before term, ${sent.length} letters`), false) }), false)
  t.same(later.settled, ['nak 50'], 'beforeTerm saying not yet leaves it for later')
  t.same(order, ['before term, 2 letters'], 'beforeTerm runs once the letter is stored')
})
