import t from 'tap'
import { classify } from '../../../src/cartridges/transform/classify.ts'
import { build, configProblem, context, fakeEnv, run, sampleEvent } from '../fixtures/cartridge-env.ts'

const rules = [
  { when: "labels.trust == 'flag'", class: 'review' },
  { when: "event.type == 'message.received' && data.text.contains('?')", class: 'notification' },
  { when: "event.type == 'message.received'", class: 'index' },
]

t.test('the first matching rule gives the class', async (t) => {
  const stage = build(classify, { rules })
  t.same(await run(stage, context(sampleEvent({ data: { text: 'lunch?' } }))), { type: 'continue', labels: { class: 'notification' } })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue', labels: { class: 'index' } })
  t.same(await run(stage, context(sampleEvent(), { labels: { trust: 'flag' } })), { type: 'continue', labels: { class: 'review' } }, 'labels from earlier stages are visible')
})

t.test('default class and label name', async (t) => {
  t.same(await run(build(classify, { rules }), context(sampleEvent({ type: 'reaction.added' }))), { type: 'continue', labels: { class: 'signal' } })
  const custom = build(classify, { rules, default: 'ignore', label: 'treatment' })
  t.same(await run(custom, context(sampleEvent({ type: 'reaction.added' }))), { type: 'continue', labels: { treatment: 'ignore' } })
})

t.test('a bad rule is reported at its path', async (t) => {
  t.same(configProblem(() => classify.create({ rules: [...rules, { when: ')', class: 'x' }] }, fakeEnv())).path, ['rules', 3, 'when'])
})
