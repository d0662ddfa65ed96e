import t from 'tap'
import { createCatalog } from '../../src/catalog/catalog.ts'
import { compileCatalogManifest } from '../../src/catalog/compile.ts'
import { exportDecision } from '../../src/mesh/exporter.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { MESH_CATALOG_WITH_PRIVATE } from '../fixtures/mesh-node.ts'
import { testLookup } from '../fixtures/manifests.ts'

const catalog = createCatalog(compileCatalogManifest(parseYamlManifest('c.yaml', MESH_CATALOG_WITH_PRIVATE), testLookup).entries)
const SUBJECT = 'omni.evt.test.note-created.v1'
const body = (extra: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify({ type: 'note.created', visibility: 'cluster', data: { noteId: 'n' }, ...extra }))

// What leaves the node is decided from the stored envelope and this node's catalog: only its own
// cluster/public events, never further than the catalog allows, never what it received.
t.test('the exporter sends only own events of cluster or public visibility the catalog allows', async (t) => {
  t.same(exportDecision(SUBJECT, body({}), catalog), { type: 'export', vis: 'cluster' })
  t.same(exportDecision(SUBJECT, body({ visibility: 'public' }), catalog), { type: 'export', vis: 'public' })
  t.match(exportDecision(SUBJECT, body({ visibility: 'local' }), catalog), { type: 'keep', why: /local/ }, 'local stays home')
  t.match(exportDecision(SUBJECT, body({ origin: 'a2' }), catalog), { type: 'keep', why: /received from a2/ }, 'a received event is never sent on')
  t.match(exportDecision('omni.evt.test.note-archived.v1', body({ type: 'note.archived', visibility: 'public' }), catalog), { type: 'keep', why: /at most cluster/ }, 'a producer on NATS cannot widen a type past the catalog')
  t.match(exportDecision(SUBJECT, body({ type: 'note.unheard-of' }), catalog), { type: 'keep', why: /not in the catalog/ })
  t.match(exportDecision(SUBJECT, new TextEncoder().encode('{'), catalog), { type: 'keep', why: /does not parse/ })
  t.match(exportDecision('omni.evt.odd', body({}), catalog), { type: 'keep', why: /not an event subject/ })
})
