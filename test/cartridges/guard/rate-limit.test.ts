import t from 'tap'
import { rateLimit } from '../../../src/cartridges/guard/rate-limit.ts'
import { build, configProblem, context, fakeClock, fakeEnv, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('allows `burst` at once, then refills at rate per period', async (t) => {
  const clock = fakeClock()
  const stage = build(rateLimit, { rate: 2, per: '1s' })
  const go = async (actor = 'alice') => (await run(stage, context(sampleEvent({ actor }), { now: clock.now }))).type
  t.equal(await go(), 'continue')
  t.equal(await go(), 'continue')
  t.equal(await go(), 'drop', 'third within the same instant is over the limit')
  t.equal(await go('bob'), 'continue', 'other actors have their own bucket')
  clock.advance(499)
  t.equal(await go(), 'drop', 'not quite one token yet')
  clock.advance(1)
  t.equal(await go(), 'continue', 'one token after half a second')
  t.equal(await go(), 'drop')
  clock.advance(10_000)
  t.equal(await go(), 'continue')
  t.equal(await go(), 'continue')
  t.equal(await go(), 'drop', 'tokens never exceed the burst')
})

t.test('drop reason, label action, custom burst and the tenant fallback', async (t) => {
  const clock = fakeClock()
  const stage = build(rateLimit, { rate: 1, per: 60_000, burst: 1, action: 'label' })
  const { actor: _, ...noActor } = sampleEvent()
  t.same(await run(stage, context(noActor, { now: clock.now })), { type: 'continue', labels: { rateLimited: false } })
  t.same(await run(stage, context({ ...noActor, id: 'e2' }, { now: clock.now })), { type: 'continue', labels: { rateLimited: true } })
  t.same(await run(stage, context(sampleEvent(), { now: clock.now })), { type: 'continue', labels: { rateLimited: false } }, 'an actor is not its tenant')

  const dropping = build(rateLimit, { rate: 1, per: '1m' })
  await run(dropping, context(sampleEvent(), { now: clock.now }))
  t.same(await run(dropping, context(sampleEvent(), { now: clock.now })), { type: 'drop', reason: 'rate limit exceeded (1 per 1m)' })
})

t.test('a CEL key', async (t) => {
  const clock = fakeClock()
  const stage = build(rateLimit, { key: 'event.conversation', rate: 1, per: '1h' })
  t.equal((await run(stage, context(sampleEvent({ actor: 'a' }), { now: clock.now }))).type, 'continue')
  t.equal((await run(stage, context(sampleEvent({ actor: 'b' }), { now: clock.now }))).type, 'drop', 'same conversation, same bucket')
  const broken = build(rateLimit, { key: 'data.nope', rate: 1, per: '1h' })
  await t.rejects(Promise.resolve().then(() => run(broken, context(sampleEvent()))), /rate limit key expression failed/)
})

t.test('a clock that steps back does not mint tokens', async (t) => {
  const clock = fakeClock()
  const stage = build(rateLimit, { rate: 1, per: '1s' })
  const go = async () => (await run(stage, context(sampleEvent(), { now: clock.now }))).type
  t.equal(await go(), 'continue')
  clock.advance(-5000)
  t.equal(await go(), 'drop')
  clock.advance(5000)
  t.equal(await go(), 'drop', 'no credit for the time the clock went back')
})

t.test('bad configurations', async (t) => {
  t.same(configProblem(() => rateLimit.create({ rate: 1, per: '0s' }, fakeEnv())).path, ['per'])
  t.same(configProblem(() => rateLimit.create({ rate: 1, per: '1s', key: 'event.' }, fakeEnv())).path, ['key'])
})
