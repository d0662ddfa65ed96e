import t from 'tap'
import { allowlist, denylist } from '../../../src/cartridges/guard/lists.ts'
import { build, configProblem, context, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('allowlist keeps listed actors only, exact or by prefix', async (t) => {
  const stage = build(allowlist, { values: ['alice', '+4930*'] })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue' })
  t.same(await run(stage, context(sampleEvent({ actor: '+4930555' }))), { type: 'continue' })
  t.same(await run(stage, context(sampleEvent({ actor: 'bob' }))), { type: 'drop', reason: 'actor is not on the allowlist' })
  t.same(await run(stage, context(sampleEvent({ actor: 'alice2' }))), { type: 'drop', reason: 'actor is not on the allowlist' }, 'exact means exact')
  const { actor: _, ...anonymous } = sampleEvent()
  t.same(await run(stage, context(anonymous)), { type: 'drop', reason: 'actor is missing (allowlist)' })
})

t.test('denylist drops listed values and passes events without the field', async (t) => {
  const stage = build(denylist, { field: 'conversation', values: ['spam-*'] })
  t.same(await run(stage, context(sampleEvent({ conversation: 'spam-42' }))), { type: 'drop', reason: 'conversation is on the denylist' })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue' })
  const { conversation: _, ...noConversation } = sampleEvent()
  t.same(await run(stage, context(noConversation)), { type: 'continue' })
})

t.test('a data path field', async (t) => {
  const stage = build(denylist, { field: 'data.contact.phone', values: ['+4930*'] })
  t.equal((await run(stage, context(sampleEvent()))).type, 'drop')
  t.equal((await run(stage, context(sampleEvent({ data: { contact: { phone: 4930 } } })))).type, 'continue', 'a number is not a listed string')
  const allow = build(allowlist, { field: 'data.contact.phone', values: ['*'] })
  t.equal((await run(allow, context(sampleEvent({ data: {} })))).type, 'drop', '* matches any value, but not a missing one')
})

t.test('bad configurations', async (t) => {
  t.same(configProblem(() => allowlist.create({ field: 'nickname', values: ['x'] }, {} as never)).path, ['field'])
  t.same(configProblem(() => denylist.create({ values: ['ok', 'a*b'] }, {} as never)).path, ['values', 1])
  t.same(configProblem(() => denylist.create({ field: 'data.', values: ['x'] }, {} as never)).path, ['field'])
})
