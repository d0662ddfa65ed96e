import t from 'tap'
import { truncate } from '../../../src/cartridges/transform/truncate.ts'
import { build, configProblem, context, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('cuts long strings with the suffix counted within the maximum', async (t) => {
  const stage = build(truncate, { fields: { text: 5, 'contact.name': 2, 'contact.phone': 100 } })
  const event = sampleEvent()
  const before = structuredClone(event)
  const r = await run(stage, context(event))
  t.same(r, { type: 'continue', data: { text: 'hell…', fromSelf: false, contact: { name: 'Ada'.slice(0, 1) + '…', phone: '+4930123456' } } })
  t.same(event, before, 'the input event is unchanged')
})

t.test('exact length, non-strings and absent fields are untouched', async (t) => {
  const stage = build(truncate, { fields: { text: 11, n: 1, none: 3 } })
  t.same(await run(stage, context(sampleEvent({ data: { text: 'hello there', n: 12345 } }))), { type: 'continue' })
})

t.test('custom suffix; code points are never split', async (t) => {
  const stage = build(truncate, { fields: { text: 4 }, suffix: '..' })
  t.same(await run(stage, context(sampleEvent({ data: { text: '😀😀😀😀😀' } }))), { type: 'continue', data: { text: '😀😀..' } })
  t.same(await run(stage, context(sampleEvent({ data: { text: '😀😀😀😀' } }))), { type: 'continue' }, '4 emoji are 8 UTF-16 units but 4 characters')
  const bare = build(truncate, { fields: { text: 3 }, suffix: '' })
  t.same(await run(bare, context(sampleEvent())), { type: 'continue', data: { ...sampleEvent().data, text: 'hel' } })
})

t.test('a maximum shorter than the suffix is a config problem', async (t) => {
  t.same(configProblem(() => truncate.create({ fields: { text: 1 }, suffix: '...' }, {} as never)).path, ['fields', 'text'])
})
