// Review m13: the receiver admits a peer's event into whatever tenant its envelope names. Tenant
// names are each node's own (HTTP ingest binds them to tokens per node), but nothing maps or
// limits a peer's tenants: a1 (or, for public events, any node of ANOTHER cluster) writes into
// tenant "acme" of a2, which acme's read tokens, pipelines and ClickHouse rows then show as acme's.
import t from 'tap'
import { admitFromLink } from '../../src/mesh/admission.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { meshOutboxSubject } from '../../src/wire/mod.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'

t.test("a peer of another cluster cannot pick the receiver's tenant", async (t) => {
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG.replace('    idempotency:', '    visibility: public\n    idempotency:') })
  const { catalog } = await loadManifests(dir, testLookup)
  const event = { specversion: '1.0', id: 'x', source: 'omni://b1', type: 'note.created', time: '2026-12-07T00:00:00Z', data: { noteId: 'n' }, tenant: 'acme', visibility: 'public', idempotencykey: 'n' }
  const admission = admitFromLink('a', { node: 'b1', cluster: 'b' }, { subject: meshOutboxSubject('public', 'b', 'b1', 'omni.evt.test.note-created.v1'), streamSource: 'MESH_PUBLIC 1', data: new TextEncoder().encode(JSON.stringify(event)) }, catalog)
  t.comment(JSON.stringify(admission).slice(0, 200))
  t.not(admission.type === 'admit' && admission.event.tenant, 'acme', "b1's event does not land in a2's tenant acme")
})
