import t from 'tap'
import { jetstreamManager, DiscardPolicy, StorageType } from '@nats-io/jetstream'
import { DEFAULT_DUPLICATE_WINDOW_MS, DEFAULT_MAX_BYTES, DEFAULT_MAX_MSG_SIZE, DEFAULT_RAW_MAX_BYTES, DLQ_STREAM, ensureStreams, EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { MAX_SIGNATURE_AGE_S } from '../../src/webhooks/auth.ts'
import { EVENT_SUBJECTS } from '../../src/wire/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const DAY_NS = 86_400_000 * 1_000_000

t.test("an existing stream keeps what the operator set; only what the platform needs is changed, and the rest is reported", async (t) => {
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  // an operator made the stream first: one day, a byte limit, the oldest dropped when full, one subject fewer
  await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['omni.evt.>'], storage: StorageType.File, max_age: DAY_NS, max_bytes: 64 * 1024 * 1024, discard: DiscardPolicy.Old, duplicate_window: 5 * 60_000_000_000 })
  const warnings = await ensureStreams(jsm, { mode: 'upsert' })
  const config = (await jsm.streams.info(EVENTS_STREAM)).config
  t.equal(config.max_age, DAY_NS, 'its retention is kept')
  t.equal(config.max_bytes, 64 * 1024 * 1024, 'its byte limit is kept')
  t.equal(config.discard, DiscardPolicy.Old, 'its discard policy is kept')
  t.equal(config.duplicate_window, 5 * 60_000_000_000, 'its duplicate window is kept')
  t.same(config.subjects, [...EVENT_SUBJECTS], 'the subjects the platform publishes to are restored')
  t.equal(config.max_msg_size, DEFAULT_MAX_MSG_SIZE)
  t.ok(warnings.some((w) => /stream OMNI_EVENTS keeps max_age = 86400000000000 as set on the server/.test(w)), warnings.join('\n'))
  t.ok(warnings.some((w) => /keeps discard = "old" as set on the server \(the platform would create it with "new"\)/.test(w)), warnings.join('\n'))
  t.ok(warnings.some((w) => /keeps max_bytes = 67108864 as set on the server/.test(w)), 'a byte limit other than the default is reported')

  // a setting the caller gives on purpose is applied
  await ensureStreams(jsm, { mode: 'upsert', maxAgeMs: 2 * 86_400_000 })
  t.equal((await jsm.streams.info(EVENTS_STREAM)).config.max_age, 2 * DAY_NS)
  // the CLI never changes a stream that exists
  t.same(await ensureStreams(jsm, { mode: 'create-missing', maxAgeMs: 86_400_000 }), [])
  t.equal((await jsm.streams.info(EVENTS_STREAM)).config.max_age, 2 * DAY_NS)
})

t.test('streams the platform creates get its defaults and say nothing', async (t) => {
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  t.same(await ensureStreams(jsm, { mode: 'upsert' }), [])
  t.same(await ensureStreams(jsm, { mode: 'upsert' }), [], 'and nothing on the next start either')
  t.equal((await jsm.streams.info(EVENTS_STREAM)).config.max_age, 7 * DAY_NS)
})

t.test('the events stream and the raw archive are created with a byte limit and discard: new; the dead letters are not', async (t) => {
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  await ensureStreams(jsm, { mode: 'upsert' })
  for (const [name, bytes] of [[EVENTS_STREAM, DEFAULT_MAX_BYTES], [RAW_STREAM, DEFAULT_RAW_MAX_BYTES]] as const) {
    const config = (await jsm.streams.info(name)).config
    t.equal(config.max_bytes, bytes, `${name} has a byte limit`)
    t.equal(config.discard, DiscardPolicy.New, `${name} refuses new data when full instead of deleting what is acknowledged`)
  }
  t.equal((await jsm.streams.info(DLQ_STREAM)).config.max_bytes, -1, 'a dead letter is never refused for room')
  // a limit set on purpose is applied to an existing stream, with discard: new, even over an operator's discard: old
  await jsm.streams.update(EVENTS_STREAM, { ...(await jsm.streams.info(EVENTS_STREAM)).config, discard: DiscardPolicy.Old })
  t.same(await ensureStreams(jsm, { mode: 'upsert', maxBytes: 64 * 1024 * 1024, rawMaxBytes: -1 }), [])
  const events = (await jsm.streams.info(EVENTS_STREAM)).config
  t.equal(events.max_bytes, 64 * 1024 * 1024)
  t.equal(events.discard, DiscardPolicy.New)
  t.equal((await jsm.streams.info(RAW_STREAM)).config.max_bytes, -1, '-1 lifts the limit')
})

t.test('the duplicate window outlasts any replay a signed webhook timestamp still admits', async (t) => {
  // a timestamp up to MAX_SIGNATURE_AGE_S ahead or behind is accepted, so a replay may come up to twice that after the first delivery
  t.ok(DEFAULT_DUPLICATE_WINDOW_MS >= 2 * MAX_SIGNATURE_AGE_S * 1000, `${DEFAULT_DUPLICATE_WINDOW_MS} ms >= 2 x ${MAX_SIGNATURE_AGE_S} s`)
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  await ensureStreams(jsm, { mode: 'upsert' })
  for (const name of [EVENTS_STREAM, RAW_STREAM]) t.equal((await jsm.streams.info(name)).config.duplicate_window, DEFAULT_DUPLICATE_WINDOW_MS * 1_000_000, name)
})
