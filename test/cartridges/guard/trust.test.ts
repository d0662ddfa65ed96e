import t from 'tap'
import { trust, QUARANTINED_TYPE } from '../../../src/cartridges/guard/trust.ts'
import { build, configProblem, context, fakeEnv, run, sampleEvent } from '../fixtures/cartridge-env.ts'

const rules = [
  { when: "data.text.contains('spam')", outcome: 'reject' as const, reason: 'spam' },
  { when: "data.text.contains('http')", outcome: 'quarantine' as const, reason: 'link from unknown sender' },
  { when: 'data.text.size() > 20', outcome: 'flag' as const, reason: 'long message' },
  { when: "event.actor == 'alice'", outcome: 'accept' as const },
]
const stage = build(trust, { rules, default: 'flag' })

t.test('accept: continues with labels.trust = accept', async (t) => {
  const r = await run(stage, context(sampleEvent()))
  t.same(r, { type: 'continue', labels: { trust: 'accept' } })
})

t.test('flag: continues with the reason', async (t) => {
  const r = await run(stage, context(sampleEvent({ data: { text: 'a rather long message indeed' } })))
  t.same(r, { type: 'continue', labels: { trust: 'flag', trustReason: 'long message' } })
})

t.test('reject: drops with the reason and emits nothing', async (t) => {
  const r = await run(stage, context(sampleEvent({ data: { text: 'buy spam now' } })))
  t.same(r, { type: 'drop', reason: 'rejected: spam' })
})

t.test('the first matching rule wins', async (t) => {
  const r = await run(stage, context(sampleEvent({ data: { text: 'spam at http://x, long long long' } })))
  t.equal(r.type === 'drop' && r.reason, 'rejected: spam')
})

t.test('quarantine: drops and emits the original event to the quarantine subject', async (t) => {
  const event = sampleEvent({ data: { text: 'see http://x' } })
  const r = await run(stage, context(event))
  t.equal(r.type, 'drop')
  if (r.type !== 'drop') return
  t.equal(r.reason, 'quarantined: link from unknown sender')
  t.equal(r.emit?.length, 1)
  const out = r.emit?.[0]
  t.equal(out?.subject, 'omni.evt.omni.quarantined.v1')
  t.equal(out?.event.type, QUARANTINED_TYPE)
  t.equal(out?.event.causationid, event.id)
  t.equal(out?.event.tenant, 't1')
  t.same(out?.event.data, { originalType: 'message.received', reason: 'link from unknown sender', event })
  const again = await run(stage, context(event))
  t.same(again, r, 'a redelivered event quarantines to the very same child event')
})

t.test('default outcome, custom quarantine subject, and a condition that cannot be evaluated', async (t) => {
  const flagged = await run(stage, context(sampleEvent({ actor: 'bob' })))
  t.same(flagged, { type: 'continue', labels: { trust: 'flag', trustReason: 'no rule matched (default outcome)' } })

  const strict = build(trust, {
    rules: [{ when: "data.missing == 'x'", outcome: 'accept' }],
    default: 'quarantine',
    quarantineSubject: 'omni.evt.security.held.v2',
  })
  const r = await run(strict, context(sampleEvent()))
  t.equal(r.type, 'drop', 'a rule on a missing field does not match, so the default applies')
  t.equal(r.emit?.[0]?.subject, 'omni.evt.security.held.v2')

  const lenient = build(trust, { rules: [] })
  t.same(await run(lenient, context(sampleEvent())), { type: 'continue', labels: { trust: 'accept' } }, 'default is accept')
})

t.test('reasons default to the rule position', async (t) => {
  const s = build(trust, { rules: [{ when: 'true', outcome: 'flag' }] })
  t.same(await run(s, context(sampleEvent())), { type: 'continue', labels: { trust: 'flag', trustReason: 'matched rules[0]' } })
})

t.test('a bad CEL expression is reported at its path', async (t) => {
  const p = configProblem(() =>
    trust.create({ rules: [{ when: 'true', outcome: 'accept' }, { when: 'data.text ==', outcome: 'reject' }] }, fakeEnv()),
  )
  t.same(p.path, ['rules', 1, 'when'])
  t.match(p.message, /invalid CEL expression/)
})
