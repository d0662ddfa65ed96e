import t from 'tap'
import { correlate } from '../../../src/cartridges/meta/correlate.ts'
import type { StageFn } from '../../../src/pipeline/stage.ts'
import { build, configProblem, context, fakeClock, fakeEnv, run, sampleEvent } from '../fixtures/cartridge-env.ts'

const config = {
  type: 'message.received',
  threshold: 3,
  window: '30s',
  emitType: 'omni.burst.detected',
  emitSubject: 'omni.evt.omni.burst-detected.v1',
}

function feeder(stage: StageFn, clock: ReturnType<typeof fakeClock>) {
  return (id: string, overrides = {}) => run(stage, context(sampleEvent({ id, idempotencykey: `key-${id}`, ...overrides }), { now: clock.now }))
}

t.test('reaching the threshold inside the window emits exactly one event', async (t) => {
  const clock = fakeClock()
  const send = feeder(build(correlate, config), clock)
  t.same(await send('e1'), { type: 'continue' })
  clock.advance(10_000)
  t.same(await send('e2'), { type: 'continue' })
  clock.advance(10_000)
  const r = await send('e3')
  t.equal(r.type, 'continue', 'the triggering event flows on')
  t.equal(r.emit?.length, 1)
  const out = r.emit?.[0]
  t.equal(out?.subject, 'omni.evt.omni.burst-detected.v1')
  t.equal(out?.event.type, 'omni.burst.detected')
  t.equal(out?.event.causationid, 'e3')
  t.same(out?.event.data, { group: 't1', count: 3, windowMs: 30_000, firstEventId: 'e1', lastEventId: 'e3', type: 'message.received' })

  clock.advance(1000)
  t.same(await send('e4'), { type: 'continue' }, 'the window starts afresh after a burst')
  t.same(await send('e5'), { type: 'continue' })
  t.equal((await send('e6')).emit?.length, 1, 'and a new burst can follow')
})

t.test('events spread wider than the window do not make a burst', async (t) => {
  const clock = fakeClock()
  const send = feeder(build(correlate, config), clock)
  await send('e1')
  clock.advance(20_000)
  await send('e2')
  clock.advance(10_000) // e1 is now exactly 30s old: outside the window
  t.same(await send('e3'), { type: 'continue' })
  clock.advance(5_000)
  const r = await send('e4')
  t.equal(r.emit?.[0]?.event.data['firstEventId'], 'e2', 'the window slides')
})

t.test('replaying the trigger yields the identical event; redelivered events count once', async (t) => {
  const clock = fakeClock()
  const send = feeder(build(correlate, config), clock)
  await send('e1')
  await send('e1')
  t.same(await send('e2'), { type: 'continue' }, 'e1 redelivered was counted once')
  const first = await send('e3')
  const replay = await send('e3')
  t.ok(first.emit?.[0])
  t.same(replay, first, 'same trigger, same child (and the stream drops the copy)')

  // a fresh worker seeing the same sequence derives the very same child too
  const other = feeder(build(correlate, config), fakeClock())
  await other('e1')
  await other('e2')
  t.same(await other('e3'), first)
})

t.test('counts per group and only the configured type', async (t) => {
  const clock = fakeClock()
  const send = feeder(build(correlate, { ...config, groupBy: 'event.conversation', threshold: 2 }), clock)
  await send('a1', { conversation: 'A' })
  t.same(await send('b1', { conversation: 'B' }), { type: 'continue' })
  t.same(await send('x1', { conversation: 'A', type: 'reaction.added' }), { type: 'continue' }, 'other types are not counted')
  t.same(await send('u1', { conversation: undefined }), { type: 'continue' }, 'no group, not counted')
  const r = await send('a2', { conversation: 'A' })
  t.equal(r.emit?.[0]?.event.data['group'], 'A')

  const any = feeder(build(correlate, { threshold: 2, window: 1000, emitType: 'omni.burst.detected', emitSubject: 'omni.evt.omni.burst.v1' }), clock)
  await any('z1', { type: 'reaction.added' })
  const burst = await any('z2')
  t.equal(burst.emit?.[0]?.event.data['type'], '*')
  t.equal(burst.emit?.[0]?.event.data['group'], 't1', 'default group is the tenant')
})

t.test('bad configurations', async (t) => {
  t.same(configProblem(() => correlate.create({ ...config, window: '0ms' }, fakeEnv())).path, ['window'])
  t.same(configProblem(() => correlate.create({ ...config, groupBy: 'event.' }, fakeEnv())).path, ['groupBy'])
})
