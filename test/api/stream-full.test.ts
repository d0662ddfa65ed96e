import { createHmac } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { readSubject, storedOn } from '../fixtures/fabric.ts'
import { TEST_SOURCE } from '../fixtures/manifests.ts'

// The events stream and the raw archive have byte limits with discard: new. Against a real
// nats-server with a tiny limit: a refusal is a clean 507 OMNI_ERR_STREAM_FULL with Retry-After,
// nothing acknowledged before it is deleted, and a batch cut midway completes on a retry.

t.setTimeout(120_000)

/** A pipeline on the notes that publishes nothing, so only the test's own events take room. */
const QUIET_PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: record, uses: test.record }
`
const LIMIT = 32 * 1024

const note = (noteId: string) => ({ specversion: '1.0', id: `ce-${noteId}`, source: 'test://client', type: 'note.created', data: { noteId, text: 'x'.repeat(200) } })
const post = (app: Awaited<ReturnType<typeof startTestApi>>['app'], payload: unknown, batch = false) =>
  app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), 'content-type': batch ? 'application/cloudevents-batch+json' : 'application/cloudevents+json' }, payload: JSON.stringify(payload) })

t.test('a full events stream refuses with 507 and Retry-After; everything acknowledged before stays, and nothing refused is stored', async (t) => {
  const { app, fabric } = await startTestApi(t, { pipeline: QUIET_PIPELINE, fabric: { streams: { maxBytes: LIMIT } } })
  const accepted: string[] = []
  let refused: Awaited<ReturnType<typeof post>> | undefined
  // bounded: 32 KiB holds well under 200 of these events
  for (let i = 0; i < 200 && !refused; i++) {
    const res = await post(app, note(`n${i}`))
    if (res.statusCode === 202) accepted.push(`ce-n${i}`)
    else refused = res
  }
  if (!refused) throw new Error('the stream never filled')
  t.ok(accepted.length > 10, `${accepted.length} accepted before the limit`)
  t.equal(refused.statusCode, 507, refused.body)
  t.equal(refused.headers['retry-after'], '30')
  t.match(refused.json(), { error: { code: 'OMNI_ERR_STREAM_FULL', status: 507, message: /maximum bytes exceeded.*nothing was stored/ } })
  // the refusal is stable, and takes nothing away
  const again = await post(app, note('late'))
  t.equal(again.statusCode, 507)
  const info = await fabric.jsm.streams.info(EVENTS_STREAM)
  t.equal(info.state.first_seq, 1, 'nothing was deleted to make room')
  t.equal(info.state.messages, accepted.length, 'every acknowledged event is stored, and only those')
  t.ok(info.state.bytes <= LIMIT)
  t.same((await readSubject(fabric, TEST_SOURCE)).map((e) => e['id']), accepted, 'the acknowledged events, in order, intact')
  // operators see it coming: stored bytes and the limit per stream
  const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: bearer('read') })
  t.match(metrics.body, `omni_stream_bytes{stream="OMNI_EVENTS",kind="limit"} ${LIMIT}`)
  t.match(metrics.body, `omni_stream_bytes{stream="OMNI_EVENTS",kind="stored"} ${info.state.bytes}`)
  t.notMatch(metrics.body, 'omni_stream_bytes{stream="OMNI_DLQ",kind="limit"}', 'the dead letters have no limit')
  // a retry of an acknowledged event is still answered as a duplicate, not refused
  const retry = await post(app, note('n0'))
  t.equal(retry.statusCode, 200, retry.body)
  t.match(retry.json(), { duplicate: true, seq: 1 })
})

t.test('a batch that meets the limit midway: the answer says how many were stored; the same batch again completes it, each event once', async (t) => {
  const { app, fabric } = await startTestApi(t, { pipeline: QUIET_PIPELINE, fabric: { streams: { maxBytes: LIMIT } } })
  const batch = Array.from({ length: 100 }, (_, i) => note(`b${i}`))
  const cut = await post(app, batch, true)
  t.equal(cut.statusCode, 507, cut.body.slice(0, 300))
  t.equal(cut.headers['retry-after'], '30')
  const error = cut.json().error
  t.equal(error.code, 'OMNI_ERR_STREAM_FULL')
  const m = /^(\d+) of 100 events were not stored .*; (\d+) were: send the same request again/.exec(error.message)
  if (!m) throw new Error(`unexpected message: ${error.message}`)
  const stored = await storedOn(fabric.jsm, TEST_SOURCE)
  t.equal(Number(m[2]), stored, 'the answer counts what the stream holds')
  t.equal(Number(m[1]) + stored, 100)
  t.ok(stored > 0 && stored < 100, `${stored} stored before the limit`)
  t.match(error.problems[0], { where: /^\$\[\d+\]$/, message: /OMNI_ERR_STREAM_FULL/ })
  // room comes back (an operator raises the limit); the client sends the same batch again
  const config = (await fabric.jsm.streams.info(EVENTS_STREAM)).config
  await fabric.jsm.streams.update(EVENTS_STREAM, { ...config, max_bytes: 1024 * 1024 })
  const retry = await post(app, batch, true)
  t.equal(retry.statusCode, 202, retry.body.slice(0, 300))
  t.match(retry.json(), { accepted: 100 - stored, duplicates: stored })
  const ids = (await readSubject(fabric, TEST_SOURCE)).map((e) => e['id'])
  t.equal(ids.length, 100, 'the batch is complete')
  t.equal(new Set(ids).size, 100, 'and each event is stored once')
})

/** A signed generic webhook source on a node whose streams have `streams` limits, fed deliveries until one is refused with 507. */
async function fillWithDeliveries(t: Test, streams: { maxBytes?: number; rawMaxBytes?: number }) {
  process.env['OMNI_TEST_FULL_SECRET'] = 'full-hmac-secret-0123456789'
  const files = {
    'catalog/messaging.yaml': await readFile(new URL('../../manifests/catalog/messaging.yaml', import.meta.url), 'utf8'),
    'webhooks/shop.yaml': 'kind: WebhookSource\nname: shop\nadapter: generic\nauth: { type: hmac-sha256, secretEnv: OMNI_TEST_FULL_SECRET }\nmapping: { type: topic, events: {} }\n',
  }
  const { app, fabric } = await startTestApi(t, { pipeline: QUIET_PIPELINE, fabric: { files, streams } })
  const deliver = (i: number) => {
    const body = JSON.stringify({ topic: 'order.paid', id: `o-${i}`, note: 'y'.repeat(400) })
    const signature = createHmac('sha256', 'full-hmac-secret-0123456789').update(body).digest('hex')
    return app.inject({ method: 'POST', url: '/v1/webhooks/shop/store-1', headers: { 'content-type': 'application/json', 'x-omni-signature': signature }, payload: body })
  }
  let refusedAt = -1
  for (let i = 0; i < 50 && refusedAt < 0; i++) {
    const res = await deliver(i)
    if (res.statusCode === 507) refusedAt = i
    else t.equal(res.statusCode, 202, res.body)
  }
  return { fabric, deliver, refusedAt }
}

t.test('a full raw archive refuses a webhook delivery before anything is published; the provider retry goes through once there is room', async (t) => {
  const { fabric, deliver, refusedAt } = await fillWithDeliveries(t, { rawMaxBytes: 4096 })
  t.ok(refusedAt > 0, `the archive filled after ${refusedAt} deliveries`)
  const events = (await fabric.jsm.streams.info(EVENTS_STREAM)).state.messages
  t.equal(events, refusedAt, 'the refused delivery published nothing: its body is not archived')
  t.equal((await fabric.jsm.streams.info(RAW_STREAM)).state.messages, refusedAt)
  const config = (await fabric.jsm.streams.info(RAW_STREAM)).config
  await fabric.jsm.streams.update(RAW_STREAM, { ...config, max_bytes: 1024 * 1024 })
  const retried = await deliver(refusedAt)
  t.equal(retried.statusCode, 202, retried.body)
  t.equal((await fabric.jsm.streams.info(EVENTS_STREAM)).state.messages, refusedAt + 1)
})

t.test('a full events stream after the archive: the delivery is archived and answered 507; the provider retry publishes what is missing', async (t) => {
  const { fabric, deliver, refusedAt } = await fillWithDeliveries(t, { maxBytes: 8 * 1024 })
  t.ok(refusedAt > 0, `the events stream filled after ${refusedAt} deliveries`)
  t.equal((await fabric.jsm.streams.info(RAW_STREAM)).state.messages, refusedAt + 1, 'the refused delivery is archived')
  t.equal((await fabric.jsm.streams.info(EVENTS_STREAM)).state.messages, refusedAt, 'its event is not stored')
  const config = (await fabric.jsm.streams.info(EVENTS_STREAM)).config
  await fabric.jsm.streams.update(EVENTS_STREAM, { ...config, max_bytes: 1024 * 1024 })
  const retried = await deliver(refusedAt)
  t.equal(retried.statusCode, 202, retried.body)
  t.match(retried.json(), { raw: { duplicate: true }, events: [{ duplicate: false }] })
  t.equal((await fabric.jsm.streams.info(RAW_STREAM)).state.messages, refusedAt + 1, 'archived once')
  t.equal((await fabric.jsm.streams.info(EVENTS_STREAM)).state.messages, refusedAt + 1)
})
