// A stream whose byte limit the server cannot reserve is refused with an error that names the
// stream, its limit and the flags that lower it, at creation and when an existing stream grows.
import { jetstreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

// far more than 75% of any disk this runs on
const PIB = 2 ** 50

t.test('a new stream whose byte limit does not fit is refused by name, with the way out', async (t) => {
  const jsm = await jetstreamManager(await connectTest(t, await startTestNats(t)))
  await t.rejects(ensureStreams(jsm, { maxBytes: PIB }), { code: 'OMNI_ERR_CONFIG', message: /stream OMNI_EVENTS: the NATS server has no room to reserve its byte limit of 1048576 GiB .*--stream-max-bytes/ })
  await t.rejects(jsm.streams.info(EVENTS_STREAM), 'nothing was created')
})

t.test('an existing stream grown past what fits is refused and keeps its limit', async (t) => {
  const jsm = await jetstreamManager(await connectTest(t, await startTestNats(t)))
  await ensureStreams(jsm, { maxBytes: 64 * 1024 * 1024 })
  await t.rejects(ensureStreams(jsm, { maxBytes: PIB }), { code: 'OMNI_ERR_CONFIG', message: /stream OMNI_EVENTS: .*1048576 GiB/ })
  t.equal((await jsm.streams.info(EVENTS_STREAM)).config.max_bytes, 64 * 1024 * 1024, 'the stream keeps the limit it had')
})

t.test('the raw archive is named too', async (t) => {
  const jsm = await jetstreamManager(await connectTest(t, await startTestNats(t)))
  await t.rejects(ensureStreams(jsm, { maxBytes: 64 * 1024 * 1024, rawMaxBytes: PIB }), { code: 'OMNI_ERR_CONFIG', message: /stream OMNI_RAW: .*--raw-max-bytes/ })
})
