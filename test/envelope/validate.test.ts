import t from 'tap'
import { deriveEvent } from '../../src/envelope/derive.ts'
import { assertEnvelope, envelopeProblems, pointerToPath } from '../../src/envelope/validate.ts'

const valid = {
  specversion: '1.0',
  id: 'e1',
  source: 'omni://test',
  type: 'message.received',
  time: '2026-11-22T10:00:00.123Z',
  data: { text: 'hi' },
  tenant: 't1',
  visibility: 'local',
  idempotencykey: 'k1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
}

t.test('a CloudEvents 1.0 envelope with Omni extensions is valid', async (t) => {
  t.same(envelopeProblems(valid), [])
  t.equal(assertEnvelope(valid), valid)
})

t.test('every problem is reported with its JSON path', async (t) => {
  const problems = envelopeProblems({ ...valid, specversion: '0.3', time: '2026-11-22T10:00:00+02:00', visibility: 'galaxy', whatsapp_message_id: 'x', id: undefined })
  const byPath = Object.fromEntries(problems.map((p) => [p.where, p.message]))
  t.same(Object.keys(byPath).sort(), ['$.id', '$.specversion', '$.time', '$.visibility', '$.whatsapp_message_id'])
  t.equal(byPath['$.id'], 'must be string')
  t.equal(byPath['$.whatsapp_message_id'], 'unknown field (not allowed here)')
  t.equal(byPath['$.specversion'], 'must be "1.0"')
  t.equal(byPath['$.visibility'], 'must be one of "local", "cluster", "public"')
  t.match(byPath['$.time'], /pattern/)
})

t.test('assertEnvelope throws a permanent OMNI_ERR_EVENT_INVALID', async (t) => {
  t.throws(() => assertEnvelope({}), { code: 'OMNI_ERR_EVENT_INVALID', permanent: true, problems: [{ where: '$.specversion' }] })
})

t.test('JSON pointers become JSON paths', async (t) => {
  t.equal(pointerToPath(''), '$')
  t.equal(pointerToPath('/data/items/0/a~1b'), '$.data.items[0]["a/b"]')
})

t.test('a derived event is caused by its parent and comes out the same every time', async (t) => {
  const parent = assertEnvelope(valid)
  const a = deriveEvent(parent, { type: 'agent.reply.requested', data: { x: 1 } })
  const b = deriveEvent(parent, { type: 'agent.reply.requested', data: { x: 1 } })
  t.same(a, b)
  t.equal(a.causationid, 'e1')
  t.equal(a.correlationid, 'e1')
  t.not(a.idempotencykey, parent.idempotencykey)
  t.same(envelopeProblems(a), [])
  t.not(deriveEvent(parent, { type: 'agent.reply.requested', data: {}, discriminator: 'other' }).id, a.id)
})
