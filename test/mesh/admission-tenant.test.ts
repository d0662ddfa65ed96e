// A peer's event lands only in a tenant of this node that the peer's entry lists (default:
// `default`; `*`: any), checked right after the origin binding: see also peer-tenant.test.ts.
import t from 'tap'
import { admitFromLink } from '../../src/mesh/admission.ts'
import type { MeshPeer } from '../../src/mesh/config.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { meshOutboxSubject } from '../../src/wire/mod.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'

t.test("the peer's tenants decide where its events may land", async (t) => {
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG.replace('    idempotency:', '    visibility: cluster\n    idempotency:') })
  const { catalog } = await loadManifests(dir, testLookup)
  const message = (tenant: unknown, extra: Record<string, unknown> = {}) => ({
    subject: meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.note-created.v1'),
    streamSource: 'MESH_CLUSTER 1',
    data: new TextEncoder().encode(JSON.stringify({ specversion: '1.0', id: 'x', source: 'omni://a1', type: 'note.created', time: '2026-12-07T00:00:00Z', data: { noteId: 'n' }, tenant, visibility: 'cluster', idempotencykey: 'n', ...extra })),
  })
  const admit = (peer: MeshPeer, tenant: unknown, extra?: Record<string, unknown>) => admitFromLink('a', peer, message(tenant, extra), catalog)
  const a1 = { node: 'a1', cluster: 'a' }
  t.match(admit(a1, 'default'), { type: 'admit', event: { tenant: 'default' } }, 'no list: default')
  t.match(admit(a1, 'acme'), { type: 'refuse', reason: 'tenant', message: 'its envelope names tenant "acme", which a1 may not write to on this node (its peers entry allows default)' })
  t.match(admit({ ...a1, tenants: ['acme', 'beta'] }, 'acme'), { type: 'admit' })
  t.match(admit({ ...a1, tenants: ['acme', 'beta'] }, 'default'), { type: 'refuse', reason: 'tenant', message: /allows acme, beta\)$/ })
  t.match(admit({ ...a1, tenants: ['*'] }, 'anyone'), { type: 'admit', event: { tenant: 'anyone' } })
  // the origin binding comes first: a forged origin is reported as that, whatever its tenant
  t.match(admit(a1, 'acme', { origin: 'hub-a' }), { type: 'refuse', reason: 'forged-origin' })
  // and the tenant before visibility: a peer that may not write there learns nothing more
  t.match(admit(a1, 'acme', { visibility: 'public' }), { type: 'refuse', reason: 'tenant' })
  // a tenant that is not a name is the envelope's problem
  t.match(admit({ ...a1, tenants: ['*'] }, 5), { type: 'refuse', reason: 'catalog', message: /tenant/ })
})
