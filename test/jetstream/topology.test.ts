import t from 'tap'
import { jetstreamManager, DiscardPolicy, StorageType } from '@nats-io/jetstream'
import { DEFAULT_MAX_MSG_SIZE, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { EVENT_SUBJECTS } from '../../src/wire/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const DAY_NS = 86_400_000 * 1_000_000

t.test("an existing stream keeps what the operator set; only what the platform needs is changed, and the rest is reported", async (t) => {
  const server = await startTestNats(t)
  const jsm = await jetstreamManager(await connectTest(t, server))
  // an operator made the stream first: one day, a byte limit, new messages refused when full, one subject fewer
  await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['omni.evt.>'], storage: StorageType.File, max_age: DAY_NS, max_bytes: 64 * 1024 * 1024, discard: DiscardPolicy.New, duplicate_window: 5 * 60_000_000_000 })
  const warnings = await ensureStreams(jsm, { mode: 'upsert' })
  const config = (await jsm.streams.info(EVENTS_STREAM)).config
  t.equal(config.max_age, DAY_NS, 'its retention is kept')
  t.equal(config.max_bytes, 64 * 1024 * 1024, 'its byte limit is kept')
  t.equal(config.discard, DiscardPolicy.New, 'its discard policy is kept')
  t.equal(config.duplicate_window, 5 * 60_000_000_000, 'its duplicate window is kept')
  t.same(config.subjects, [...EVENT_SUBJECTS], 'the subjects the platform publishes to are restored')
  t.equal(config.max_msg_size, DEFAULT_MAX_MSG_SIZE)
  t.ok(warnings.some((w) => /stream OMNI_EVENTS keeps max_age = 86400000000000 as set on the server/.test(w)), warnings.join('\n'))
  t.ok(warnings.some((w) => /keeps discard = "new"/.test(w)))

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
