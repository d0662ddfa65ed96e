import t from 'tap'
import { selfRoute } from '../../../src/cartridges/guard/self-route.ts'
import { build, configProblem, context, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('ignore drops self-sent events and passes the rest', async (t) => {
  const stage = build(selfRoute, {})
  t.same(await run(stage, context(sampleEvent({ data: { fromSelf: true } }))), { type: 'drop', reason: 'self-sent' })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue' })
  t.same(await run(stage, context(sampleEvent({ data: { fromSelf: 'true' } }))), { type: 'continue' }, 'only the boolean true counts')
})

t.test('label marks instead, on a custom field', async (t) => {
  const stage = build(selfRoute, { field: 'meta.mine', action: 'label' })
  t.same(await run(stage, context(sampleEvent({ data: { meta: { mine: true } } }))), { type: 'continue', labels: { selfSent: true } })
  t.same(await run(stage, context(sampleEvent())), { type: 'continue', labels: { selfSent: false } })
})

t.test('a reserved path segment is a config problem', async (t) => {
  t.same(configProblem(() => selfRoute.create({ field: '__proto__.x' }, {} as never)).path, ['field'])
})
