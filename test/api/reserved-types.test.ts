// Review m13 (finding: a client may raise cartridge events), end to end on a real server: a
// tenant's write token (single event and CloudEvents batch), `omni publish` and a producer on NATS
// cannot raise a type only the node publishes; the node's own path still can, and its pipeline
// sees it.
import t from 'tap'
import { CATALOG_STAGE } from '../../src/pipeline/worker.ts'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { CARTRIDGES_CATALOG } from '../fixtures/cartridges.ts'
import { omni } from '../fixtures/cli.ts'
import { eventually, storedOn } from '../fixtures/fabric.ts'

t.setTimeout(120_000)

const SUBJECT = 'omni.evt.plugins.cartridge-revoked.v1'
const PIPELINE = `kind: Pipeline
name: lists
sources: [${SUBJECT}]
stages:
  - { id: e, uses: transform.enrich, with: { set: { seen: true } } }
`
const data = (digest: string) => ({ issuedAt: '2026-12-07T00:00:00Z', expiresAt: '2027-01-07T00:00:00Z', revokedKeys: 0, yanked: 0, digest: digest.repeat(64), envelope: 'e30=' })
const event = (id: string, digest: string) => ({ specversion: '1.0', id, source: 'test://tenant', type: 'cartridge.revoked', tenant: 'acme', data: data(digest) })

t.test('cartridge events: refused from clients and producers, published by the node', async (t) => {
  const api = await startTestApi(t, { pipeline: PIPELINE, fabric: { files: { 'cartridges.yaml': CARTRIDGES_CATALOG } } })

  const one = await api.app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents+json' }, payload: JSON.stringify(event('c1', 'a')) })
  t.equal(one.statusCode, 403, one.body)
  t.match(one.json().error, { code: 'OMNI_ERR_EVENT_RESERVED', message: /^cartridge\.revoked is published by the node itself: .*; nothing was published$/, problems: [{ where: '$.type', message: /^cartridge\.revoked is published by the node itself: POST \/v1\/plugins\/revocations\/publish/ }] })

  const batch = await api.app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('ingest'), 'content-type': 'application/cloudevents-batch+json' }, payload: JSON.stringify([event('c2', 'b'), event('c3', 'c')]) })
  t.equal(batch.statusCode, 403, batch.body)
  t.match(batch.json().error, { code: 'OMNI_ERR_EVENT_RESERVED', problems: [{ where: '$[0].type' }, { where: '$[1].type' }] })

  const cli = await omni(['publish', 'cartridge.revoked', JSON.stringify(data('d')), '--nats', api.server.url, '--manifests', api.dir])
  t.equal(cli.code, 1, cli.stdout)
  t.match(cli.stderr, /OMNI_ERR_EVENT_RESERVED: cartridge\.revoked is published by the node itself/)
  t.equal(await storedOn(api.fabric.jsm, SUBJECT), 0, 'none of them was stored')

  // a producer on NATS skips ingest: its copy is stored, but the worker dead-letters it before any stage
  await api.fabric.publisher.publish(SUBJECT, Buffer.from(JSON.stringify({ ...event('c4', 'e'), time: '2026-12-07T00:00:00Z', visibility: 'public', idempotencykey: 'k4' })), { msgID: 'raw-c4' })
  t.ok(await eventually(() => api.settled.some((s) => s.type === 'dead-lettered')), 'dead-lettered')
  t.match(api.settled.find((s) => s.type === 'dead-lettered'), { stage: CATALOG_STAGE, error: /cartridge\.revoked is published by the node itself/ })

  // the node's own path (what POST /v1/plugins/revocations/publish uses) goes through to the pipeline
  const own = await api.fabric.node.ingest.nodeEvent({ type: 'cartridge.revoked', data: data('f') })
  t.match(own, { type: 'cartridge.revoked', duplicate: false })
  t.ok(await eventually(() => api.settled.some((s) => s.type === 'acked')), "the node's own event ran through its pipeline")
})
