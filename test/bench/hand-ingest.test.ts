// The hand-written ingest route, the bench's denominator for the API's ingest rows: it must do
// what the issue says and no more, against a real nats-server: publish the body with the
// CloudEvent's id as msgID, answer 202 once JetStream has it, and dedup a repeated id.
import { jetstreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { HAND_PATH, startHandIngestServer } from '../../bench/lib/hand-ingest.ts'
import { cloudEventBody } from '../../bench/lib/http-bodies.ts'
import { ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const SUBJECT = 'omni.evt.bench.bench-tick.v1'

t.test('publishes each body with its id as msgID, answers 202, and dedups a repeated id', async (t) => {
  const server = await startTestNats(t, { syncInterval: '1s' })
  const jsm = await jetstreamManager(await connectTest(t, server))
  await ensureStreams(jsm)
  const hand = await startHandIngestServer({ natsUrl: server.url, subject: SUBJECT })
  t.teardown(() => hand.close())
  const post = (body: string) => fetch(`${hand.url}${HAND_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })

  const body = cloudEventBody('hand-test', 1)
  const first = await post(body)
  t.equal(first.status, 202)
  t.same(await first.json(), { seq: 1, duplicate: false }, 'the answer carries the PubAck')
  const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: 1 })
  t.equal(stored?.subject, SUBJECT)
  t.equal(stored?.header.get('Nats-Msg-Id'), 'hand-test-1', 'the CloudEvent id is the msgID')
  t.same(JSON.parse(stored?.string() ?? 'null'), JSON.parse(body), 'the body is stored as posted')

  const again = await post(body)
  t.equal(again.status, 202)
  t.same(await again.json(), { seq: 1, duplicate: true }, 'the same id is a duplicate to JetStream')

  const noId = await post(JSON.stringify({ specversion: '1.0', type: 'bench.tick' }))
  t.equal(noId.status, 400, 'a body without an id has nothing to dedup by')
  t.match(await noId.json(), { error: /"id"/ })
  t.equal((await jsm.streams.info(EVENTS_STREAM)).state.messages, 1, 'neither the duplicate nor the bad body added a message')
})
