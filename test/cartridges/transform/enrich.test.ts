import t from 'tap'
import { enrich } from '../../../src/cartridges/transform/enrich.ts'
import { build, configProblem, context, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('static values are merged along dotted paths without touching the event', async (t) => {
  const stage = build(enrich, { set: { channel: 'whatsapp', 'contact.vip': true, 'meta.route.lane': 2 } })
  const event = sampleEvent()
  const before = structuredClone(event)
  const r = await run(stage, context(event))
  t.same(r, {
    type: 'continue',
    data: {
      text: 'hello there',
      fromSelf: false,
      contact: { name: 'Ada', phone: '+4930123456', vip: true },
      channel: 'whatsapp',
      meta: { route: { lane: 2 } },
    },
    labels: { enriched: { channel: 'whatsapp', contact: { vip: true }, meta: { route: { lane: 2 } } } },
  })
  t.same(event, before, 'the input event is unchanged')
})

t.test('tenant context goes under data.context by default, or under `into`', async (t) => {
  const tenants = { t1: { plan: 'pro', 'owner.name': 'Grace' }, t2: { plan: 'free' } }
  const stage = build(enrich, { tenants })
  const r = await run(stage, context(sampleEvent({ data: { text: 'x' } })))
  t.same(r, { type: 'continue', data: { text: 'x', context: { plan: 'pro', owner: { name: 'Grace' } } }, labels: { enriched: { context: { plan: 'pro', owner: { name: 'Grace' } } } } })
  t.same(await run(stage, context(sampleEvent({ tenant: 't3' }))), { type: 'continue' }, 'a tenant without context is left alone')

  const nested = build(enrich, { tenants, into: 'ctx.tenant', set: { 'ctx.static': 1 } })
  t.same(await run(nested, context(sampleEvent({ tenant: 't2', data: {} }))), {
    type: 'continue',
    data: { ctx: { static: 1, tenant: { plan: 'free' } } },
    labels: { enriched: { ctx: { static: 1, tenant: { plan: 'free' } } } },
  })
  const top = build(enrich, { tenants, into: '' })
  t.same(await run(top, context(sampleEvent({ tenant: 't2', data: { a: 1 } }))), { type: 'continue', data: { a: 1, plan: 'free' }, labels: { enriched: { plan: 'free' } } })
})

t.test('each event gets its own copy of configured values', async (t) => {
  const stage = build(enrich, { set: { tags: ['a'] } })
  const first = await run(stage, context(sampleEvent()))
  const second = await run(stage, context(sampleEvent()))
  t.not(first.type === 'continue' && first.data?.['tags'], second.type === 'continue' && second.data?.['tags'])
})

t.test('bad configurations', async (t) => {
  t.same(configProblem(() => enrich.create({}, {} as never)).path, [])
  t.same(configProblem(() => enrich.create({ set: { 'a..b': 1 } }, {} as never)).path, ['set', 'a..b'])
  t.same(configProblem(() => enrich.create({ tenants: { t1: { 'x.__proto__': 1 } } }, {} as never)).path, ['tenants', 't1', 'x.__proto__'])
})
