import t from 'tap'
import { dedup, markerKey } from '../../../src/cartridges/guard/dedup.ts'
import { isOmniError } from '../../../src/errors/mod.ts'
import { build, configProblem, context, fakeEnv, memoryDedup, run, sampleEvent } from '../fixtures/cartridge-env.ts'

t.test('continues a new event and marks its key only after commit', async (t) => {
  const store = memoryDedup()
  const stage = build(dedup, {})
  const r = await run(stage, context(sampleEvent(), { dedup: store }))
  t.equal(r.type, 'continue')
  t.equal(store.keys.size, 0, 'nothing is marked before the outputs are durable')
  await r.afterCommit?.()
  t.same([...store.keys], [markerKey('inbox', 'client', 't1', 'k1')], 'the idempotency key, scoped by pipeline, origin and tenant')
  t.match(markerKey('inbox', 'client', 't1', 'k1'), /^dedup:[A-Za-z0-9_-]{22}$/, 'a namespace and a digest')

  const again = await run(stage, context(sampleEvent({ id: 'evt-2' }), { dedup: store }))
  t.same(again, { type: 'drop', reason: 'duplicate of an already processed event' })
})

t.test('an event that failed before commit is not taken for a duplicate', async (t) => {
  const store = memoryDedup()
  const stage = build(dedup, {})
  const first = await run(stage, context(sampleEvent(), { dedup: store }))
  t.equal(first.type, 'continue')
  // the first attempt failed later on, so afterCommit never ran
  const retry = await run(stage, context(sampleEvent(), { dedup: store, attempt: 2 }))
  t.equal(retry.type, 'continue')
})

t.test('a CEL key', async (t) => {
  const store = memoryDedup()
  const stage = build(dedup, { key: "event.tenant + ':' + data.text" })
  const r = await run(stage, context(sampleEvent(), { dedup: store }))
  await r.afterCommit?.()
  t.same([...store.keys], [markerKey('inbox', 'client', 't1', 't1:hello there')])
  const other = await run(stage, context(sampleEvent({ idempotencykey: 'k2' }), { dedup: store }))
  t.equal(other.type, 'drop', 'same text, different idempotency key: still a duplicate by this key')

  const broken = build(dedup, { key: 'data.nope' })
  await t.rejects(Promise.resolve().then(() => run(broken, context(sampleEvent(), { dedup: store }))), /dedup key expression failed/)
  t.equal(configProblem(() => dedup.create({ key: '1 +' }, fakeEnv())).path[0], 'key')
})

t.test('pipelines do not share marks', async (t) => {
  const store = memoryDedup()
  const stage = build(dedup, {})
  const r = await run(stage, context(sampleEvent(), { dedup: store }))
  await r.afterCommit?.()
  const ctx = { ...context(sampleEvent(), { dedup: store }), pipeline: 'archive' }
  t.equal((await run(stage, ctx)).type, 'continue')
})

t.test('without a dedup store the stage fails and says why', async (t) => {
  const stage = build(dedup, {})
  const err = await run(stage, context(sampleEvent())).catch((e: unknown) => e)
  t.ok(isOmniError(err))
  t.match((err as Error).message, /no dedup store is configured/)
})

t.test('origins do not share marks: a key a client sent never matches an output or a webhook event', async (t) => {
  const store = memoryDedup()
  const stage = build(dedup, {})
  const planted = await run(stage, context(sampleEvent(), { dedup: store, origin: 'client' }))
  await planted.afterCommit?.()
  t.equal((await run(stage, context(sampleEvent(), { dedup: store, origin: 'out:relay' }))).type, 'continue', "a pipeline output with the client's key")
  t.equal((await run(stage, context(sampleEvent(), { dedup: store, origin: 'webhook:evolution:phone-1' }))).type, 'continue', 'a webhook event with the same key')
  t.equal((await run(stage, context(sampleEvent(), { dedup: store, origin: 'client' }))).type, 'drop', 'the same origin still deduplicates')
  // the pipeline, origin and key are hashed as separate parts: no key can shift text between them
  t.not(markerKey('a', 'client', 't', 'b/x'), markerKey('a/b', 'client', 't', 'x'))
  t.not(markerKey('p', 'client', 't', 'x'), markerKey('p', 'client:x', 't', ''))
  t.equal((await run(stage, context(sampleEvent({ tenant: 't2' }), { dedup: store, origin: 'client' }))).type, 'continue', 'another tenant with the same key')
})
