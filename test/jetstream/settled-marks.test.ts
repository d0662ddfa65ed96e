import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { openSettledMarks, SETTLED_BUCKET } from '../../src/jetstream/settled-marks.ts'
import { ensureStreams } from '../../src/jetstream/topology.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const DAY_MS = 86_400_000

t.test('marks live exactly as long as the events they guard: the bucket TTL follows the events stream max age', async (t) => {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  await ensureStreams(jsm, { mode: 'upsert', maxAgeMs: 3 * DAY_MS })
  const marks = await openSettledMarks(js, jsm, publisher)
  t.equal((await jsm.streams.info(`KV_${SETTLED_BUCKET}`)).config.max_age, 3 * DAY_MS * 1_000_000, 'TTL = the events max age')

  t.equal(await marks.get('notes', 7), undefined, 'no mark until one is written')
  await marks.put('notes', 7, { type: 'published', attempt: 2, outcomes: [{ stage: 'a', type: 'ran', ms: 1 }] })
  await marks.put('_recorder', 7, { type: 'dead-lettered', attempt: 1, stage: 'sink', error: 'no', outcomes: [] })
  t.same(await marks.get('notes', 7), { type: 'published', attempt: 2, outcomes: [{ stage: 'a', type: 'ran', ms: 1 }] }, 'read back as written')
  t.match(await marks.get('_recorder', 7), { type: 'dead-lettered', stage: 'sink' }, 'keyed by consumer and sequence')
  t.equal(await marks.get('notes', 8), undefined)

  // the operator keeps events "until limits": marks never expire, and an existing bucket follows
  await ensureStreams(jsm, { mode: 'upsert', maxAgeMs: 0 })
  await openSettledMarks(js, jsm, publisher)
  t.equal((await jsm.streams.info(`KV_${SETTLED_BUCKET}`)).config.max_age, 0, 'an existing bucket is brought to the new TTL')
  t.match(await (await openSettledMarks(js, jsm, publisher)).get('notes', 7), { type: 'published' }, 'and keeps its marks')
})
