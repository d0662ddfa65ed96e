import t from 'tap'
import { redact } from '../../../src/cartridges/transform/redact.ts'
import { build, configProblem, context, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('replaces top-level and nested values without mutating the input', async (t) => {
  const stage = build(redact, { paths: ['text', 'contact.phone', 'contact.email', 'missing.deep'] })
  const event = sampleEvent()
  const before = structuredClone(event)
  const r = await run(stage, context(event))
  t.same(r, { type: 'continue', data: { text: '[redacted]', fromSelf: false, contact: { name: 'Ada', phone: '[redacted]' } } })
  t.same(event, before, 'the input event is unchanged')
  t.equal(r.type === 'continue' && (r.data?.['contact'] as Record<string, unknown>)['email'], undefined, 'absent paths stay absent')
})

t.test('custom replacement; any value type; nothing present means no new data', async (t) => {
  const stage = build(redact, { paths: ['contact', 'n'], replacement: '***' })
  t.same(await run(stage, context(sampleEvent({ data: { contact: { a: 1 }, n: null } }))), { type: 'continue', data: { contact: '***', n: '***' } })
  t.same(await run(stage, context(sampleEvent({ data: { other: 1 } }))), { type: 'continue' })
  const through = build(redact, { paths: ['list.x'] })
  t.same(await run(through, context(sampleEvent({ data: { list: [{ x: 1 }] } }))), { type: 'continue' }, 'paths do not run through arrays')
})

t.test('a reserved segment is a config problem at its index', async (t) => {
  t.same(configProblem(() => redact.create({ paths: ['ok', 'a.constructor'] }, {} as never)).path, ['paths', 1])
})
