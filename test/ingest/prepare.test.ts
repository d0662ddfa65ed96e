import t from 'tap'
import { createCatalog } from '../../src/catalog/catalog.ts'
import { compileCatalogManifest } from '../../src/catalog/compile.ts'
import { prepareEvent } from '../../src/ingest/prepare.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { TEST_CATALOG, testLookup } from '../fixtures/manifests.ts'

const { entries } = compileCatalogManifest(parseYamlManifest('c.yaml', TEST_CATALOG), testLookup)
const catalog = createCatalog(entries)

t.test('fills the envelope from the catalog', async (t) => {
  const p = prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n1' } }, { tenant: 'acme', now: () => Date.UTC(2026, 10, 22, 1, 2, 3) })
  t.equal(p.subject, 'omni.evt.test.note-created.v1')
  t.match(p.event, { specversion: '1.0', type: 'note.created', tenant: 'acme', visibility: 'local', idempotencykey: 'note.created.v1:n1', time: '2026-11-22T01:02:03.000Z' })
  t.match(p.event.id, /^[0-9a-f-]{36}$/)
  t.same(JSON.parse(new TextDecoder().decode(p.bytes)), p.event)
})

t.test('an explicit idempotency key wins over the derived one', async (t) => {
  t.equal(prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n1' }, idempotencykey: 'mine' }).event.idempotencykey, 'mine')
})

t.test('bad events: every problem with its JSON path', async (t) => {
  t.throws(() => prepareEvent(catalog, { type: 'note.created', data: { text: 1 }, visibility: 'nowhere' as never }), {
    code: 'OMNI_ERR_EVENT_INVALID',
    problems: [
      { where: '$.data.noteId', message: /idempotency key/ },
      { where: '$.visibility', message: 'must be one of "local", "cluster", "public"' },
      { where: '$.data.noteId', message: 'is required' },
      { where: '$.data.text', message: 'must be string' },
    ],
  })
  t.throws(() => prepareEvent(catalog, { type: 'nope.x', data: {} }), { code: 'OMNI_ERR_UNKNOWN_EVENT_TYPE' })
  t.throws(() => prepareEvent(catalog, null as never), { code: 'OMNI_ERR_EVENT_INVALID' })
})

t.test('oversized events are refused before they reach the stream', async (t) => {
  t.throws(() => prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n', text: 'x'.repeat(2000) } }, { maxBytes: 1024 }), { code: 'OMNI_ERR_EVENT_TOO_LARGE', message: /limit is 1024/ })
})

t.test('a producer may narrow the visibility the catalog gives a type, never widen it', async (t) => {
  // note.created is local in the catalog: asking for cluster or public would let it leave the node
  for (const visibility of ['cluster', 'public'] as const) {
    t.throws(() => prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n1' }, visibility }), {
      code: 'OMNI_ERR_EVENT_INVALID',
      problems: [{ where: '$.visibility', message: /at most "local" for note\.created/ }],
    })
  }
  t.equal(prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n1' }, visibility: 'local' }).event.visibility, 'local')
})

t.test('a producer may not set origin: only the receiving mesh node does', async (t) => {
  t.throws(() => prepareEvent(catalog, { type: 'note.created', data: { noteId: 'n1' }, origin: 'a1' } as never), {
    code: 'OMNI_ERR_EVENT_INVALID',
    problems: [{ where: '$.origin', message: 'origin is set by the receiving node; a producer may not set it' }],
  })
})
