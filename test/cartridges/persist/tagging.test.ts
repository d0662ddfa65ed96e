import t from 'tap'
import { tagging } from '../../../src/cartridges/persist/tagging.ts'
import { build, configProblem, context, fakeEnv, run, sampleEvent } from '../fixtures/cartridge-env.ts'

const rules = [
  { when: "data.text.contains('hello')", tag: 'greeting' },
  { when: "event.actor == 'alice'", tag: 'vip' },
  { when: "data.text.contains('invoice')", tag: 'billing' },
  { when: 'true', tag: 'greeting' },
]

t.test('every matching rule adds its tag, once, after existing tags', async (t) => {
  const stage = build(tagging, { rules })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue', labels: { tags: ['greeting', 'vip'] } })
  t.same(await run(stage, context(sampleEvent(), { labels: { tags: ['inbound', 'vip', 3] } })), {
    type: 'continue',
    labels: { tags: ['inbound', 'vip', 'greeting'] },
  })
})

t.test('no match leaves the labels alone', async (t) => {
  const stage = build(tagging, { rules: [{ when: "data.text == 'nope'", tag: 'x' }] })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue' })
})

t.test('a bad rule is reported at its path', async (t) => {
  t.same(configProblem(() => tagging.create({ rules: [{ when: 'true', tag: 'a' }, { when: 'true &&', tag: 'b' }] }, fakeEnv())).path, ['rules', 1, 'when'])
})
