// Review m13 (finding: a client may raise cartridge events): the types only the node publishes
// are refused on every way in that takes a producer's input, and stay open to the node's own path.
import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { isOmniError } from '../../src/errors/mod.ts'
import { prepareDelivery } from '../../src/ingest/delivery.ts'
import { prepareEvent, prepareNodeEvent } from '../../src/ingest/prepare.ts'
import { prepareAll } from '../../src/ingest/publish.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { exportDecision } from '../../src/mesh/exporter.ts'
import { reservedRefusal } from '../../src/pipeline/admission.ts'
import { encodeEmittedBy, encodeIngestOrigin, NODE_ORIGIN, type HeaderMap } from '../../src/wire/mod.ts'
import { CARTRIDGES_CATALOG } from '../fixtures/cartridges.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'

const MESSAGING = await readFile(new URL('../../manifests/catalog/messaging.yaml', import.meta.url), 'utf8')
const REVOKED = { issuedAt: '2026-12-07T00:00:00Z', expiresAt: '2027-01-07T00:00:00Z', revokedKeys: 0, yanked: 0, digest: 'a'.repeat(64), envelope: 'e30=' }
const AUDIT = { event: 'x', origin: 'a1', reason: 'cartridge-rejected', code: 'OMNI_ERR_PLUGIN_APPROVAL', message: 'no' }
// a catalog of the app's own that marks one of its types as the node's
const MARKED = TEST_CATALOG.replace('    idempotency:', '    reserved: true\n    idempotency:')

async function catalogOf(t: Test, files: Record<string, string>) {
  const { catalog, problems } = await loadManifests(await writeManifests(t, files), testLookup)
  t.same(problems, [])
  return catalog
}

const failure = (f: () => unknown) => {
  try {
    f()
  } catch (err) {
    if (isOmniError(err)) return { code: err.code, message: err.message, problems: err.problems }
    throw err
  }
  return undefined
}

const headers = (h: HeaderMap) => ({ get: (name: string) => h[name] ?? '' })

t.test('a single event (POST /v1/events, omni publish) of a reserved type is refused, naming the way the node publishes it', async (t) => {
  const catalog = await catalogOf(t, { 'cartridges.yaml': CARTRIDGES_CATALOG })
  const published = failure(() => prepareEvent(catalog, { type: 'cartridge.published', data: {} }, { tenant: 'acme' }))
  t.match(published, { code: 'OMNI_ERR_EVENT_RESERVED', problems: [{ where: '$.type', message: /^cartridge\.published is published by the node itself: POST \/v1\/plugins\/:id\/publish/ }] })
  t.match(failure(() => prepareEvent(catalog, { type: 'cartridge.revoked', data: REVOKED })), { code: 'OMNI_ERR_EVENT_RESERVED', message: /POST \/v1\/plugins\/revocations\/publish/ })
  for (const type of ['cartridge.installed', 'cartridge.pending', 'cartridge.refused', 'cartridge.revocations-adopted']) {
    t.match(failure(() => prepareEvent(catalog, { type, data: AUDIT })), { code: 'OMNI_ERR_EVENT_RESERVED', message: new RegExp(`^${type.replace('.', '\\.')} is published by the node itself`) }, type)
  }
  // the node's own path: the cartridge service and the mesh audit
  t.equal(prepareNodeEvent(catalog, { type: 'cartridge.revoked', data: REVOKED }).event.type, 'cartridge.revoked')
  t.equal(prepareNodeEvent(catalog, { type: 'cartridge.refused', data: AUDIT }).event.visibility, 'local')
})

t.test('a CloudEvents batch with one reserved event is refused whole, the problem at its index', async (t) => {
  const catalog = await catalogOf(t, { 'catalog.yaml': TEST_CATALOG, 'cartridges.yaml': CARTRIDGES_CATALOG })
  const note = { type: 'note.created', data: { noteId: 'n1' } }
  // as POST /v1/events locates a problem in a batch
  const locate = (i: number, where: string) => where.replace(/^\$/, `$[${i}]`)
  const only = failure(() => prepareAll(catalog, [note, { type: 'cartridge.refused', data: AUDIT }], locate))
  t.match(only, { code: 'OMNI_ERR_EVENT_RESERVED', problems: [{ where: '$[1].type', message: /cartridge\.refused is published by the node itself/ }] })
  // with a malformed event beside it, the answer is the usual 400 listing both
  const mixed = failure(() => prepareAll(catalog, [{ type: 'note.created', data: {} }, { type: 'cartridge.published', data: {} }], locate))
  t.equal(mixed?.code, 'OMNI_ERR_EVENT_INVALID')
  t.match(mixed?.problems, [{ where: '$[0].data.noteId' }, { where: '$[0].data.noteId' }, { where: '$[1].type', message: /cartridge\.published is published by the node itself/ }])
})

t.test('reserved: true in a catalog reserves an app type the same way', async (t) => {
  const catalog = await catalogOf(t, { 'catalog.yaml': MARKED })
  t.match(failure(() => prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n' } })), { code: 'OMNI_ERR_EVENT_RESERVED', message: 'note.created is published by the node itself: no producer may send it' })
  t.equal(prepareNodeEvent(catalog, { type: 'note.created', data: { noteId: 'n' } }).event.type, 'note.created')
})

t.test('a webhook cannot raise one: a mapping to it is refused at load, a delivery of it is kept as provider.unknown', async (t) => {
  const source = `kind: WebhookSource
name: shop
adapter: generic
mapping:
  type: topic
  events:
    plugin.shared: { type: cartridge.published, data: { id: id } }
`
  const dir = await writeManifests(t, { 'messaging.yaml': MESSAGING, 'cartridges.yaml': CARTRIDGES_CATALOG, 'webhooks/shop.yaml': source })
  const { problems } = await loadManifests(dir, testLookup)
  t.match(problems, [{ where: /shop\.yaml:7:\d+$/, message: /^mapping\.events\.plugin\.shared\.type: cartridge\.published is published by the node itself: POST \/v1\/plugins\/:id\/publish .*; a webhook cannot raise it$/ }])

  const catalog = await catalogOf(t, { 'messaging.yaml': MESSAGING, 'cartridges.yaml': CARTRIDGES_CATALOG })
  const ctx = { provider: 'shop', instance: 'main', tenant: 'default', dataref: 'raw:1', providerType: () => 'plugin.shared' }
  const { prepared, fallbacks } = prepareDelivery(catalog, [{ type: 'cartridge.refused', data: AUDIT }], ctx)
  t.same(prepared.map((p) => p.event.type), ['provider.unknown'], 'stored as provider.unknown, never as the node\'s record')
  t.match(fallbacks, [{ type: 'cartridge.refused', problems: [{ where: '$.type', message: /published by the node itself/ }] }])
})

t.test('a producer on NATS: the worker refuses it, the exporter keeps it home; the node and the mesh receiver pass', async (t) => {
  const catalog = await catalogOf(t, { 'cartridges.yaml': CARTRIDGES_CATALOG })
  const { event, subject, bytes } = prepareNodeEvent(catalog, { type: 'cartridge.revoked', data: REVOKED })
  const entry = catalog.get('cartridge.revoked')
  t.match(reservedRefusal(entry, event, subject, 'client'), /^cartridge\.revoked is published by the node itself: POST \/v1\/plugins\/revocations\/publish/)
  t.equal(reservedRefusal(entry, event, subject, NODE_ORIGIN), undefined, "the node's own publish")
  t.equal(reservedRefusal(entry, event, 'omni.rcv.public.a.a1.plugins.cartridge-revoked.v1', 'mesh:a1'), undefined, 'admitted from a peer')

  t.match(exportDecision(subject, bytes, catalog), { type: 'keep', why: /published by the node itself/ }, 'no headers: a producer on NATS')
  t.match(exportDecision(subject, bytes, catalog, headers(encodeIngestOrigin('client'))), { type: 'keep' })
  t.match(exportDecision(subject, bytes, catalog, headers({ ...encodeEmittedBy('p'), ...encodeIngestOrigin(NODE_ORIGIN) })), { type: 'keep' }, "a pipeline's output of the node's event")
  t.same(exportDecision(subject, bytes, catalog, headers(encodeIngestOrigin(NODE_ORIGIN))), { type: 'export', vis: 'public' })
})
