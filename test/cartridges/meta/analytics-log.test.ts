import t from 'tap'
import { analyticsLog, analyticsSnapshot } from '../../../src/cartridges/meta/analytics-log.ts'
import { build, context, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('stamps the time seen and counts first deliveries per type', async (t) => {
  const before = analyticsSnapshot()
  const stage = build(analyticsLog, {})
  t.same(await run(stage, context(sampleEvent(), { now: () => 42 })), { type: 'continue', labels: { seen: 42 } })
  await run(stage, context(sampleEvent({ id: 'e2' })))
  await run(stage, context(sampleEvent({ id: 'e2' }), { attempt: 2 }))
  await run(build(analyticsLog, { label: 'loggedAt' }), context(sampleEvent({ type: 'reaction.added' }), { now: () => 7 })).then((r) =>
    t.same(r, { type: 'continue', labels: { loggedAt: 7 } }),
  )
  const after = analyticsSnapshot()
  t.equal((after['message.received'] ?? 0) - (before['message.received'] ?? 0), 2, 'a retry is not counted again')
  t.equal((after['reaction.added'] ?? 0) - (before['reaction.added'] ?? 0), 1)
  t.same(Object.keys(after), Object.keys(after).sort(), 'types in order')
})
