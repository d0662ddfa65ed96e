// Review m13: `cartridge.published` (public) and the local audit types (`cartridge.installed`,
// `cartridge.refused`, …) are ordinary catalog types, so any ingest client (a tenant's write
// token on POST /v1/events, a webhook mapping, `omni publish`) can raise them. Publishing a
// plugin to the mesh is admin-only (POST /v1/plugins/.../publish), but a client with a write
// token reaches the same event and every L2/L3 peer installs any bundle the key ever signed
// above the high-water mark; the audit trail on the node itself can be forged the same way.
import t from 'tap'
import { prepareEvent } from '../../src/ingest/prepare.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { CARTRIDGES_CATALOG } from '../fixtures/cartridges.ts'
import { testLookup, writeManifests } from '../fixtures/manifests.ts'

t.test('an ingest client may not raise cartridge events', async (t) => {
  const dir = await writeManifests(t, { 'cartridges.yaml': CARTRIDGES_CATALOG })
  const { catalog, problems } = await loadManifests(dir, testLookup)
  t.same(problems, [])
  const bundle = { format: 'omni.plugin.bundle/v1', envelope: 'e30=', files: [] }
  const published = { type: 'cartridge.published', data: { id: 'acme.spy', version: '1.0.0', serial: 1, tier: 'verified', keyid: '0'.repeat(32), digest: '0'.repeat(64), bundle } }
  const audit = { type: 'cartridge.installed', data: { event: 'x', origin: 'a1', id: 'acme.spy', version: '1.0.0', serial: 1, tier: 'core', keyid: '0'.repeat(32), digest: '0'.repeat(64), level: 'L3', by: 'mesh:L3:a1' } }
  // as POST /v1/events prepares a client's event (tenant-scoped token)
  const attempt = (input: unknown) => {
    try {
      prepareEvent(catalog, input as never, { tenant: 'tenant-x' })
      return 'accepted'
    } catch (err) {
      return (err as Error).message
    }
  }
  t.not(attempt(published), 'accepted', 'a client cannot publish a cartridge to the whole mesh')
  t.not(attempt(audit), 'accepted', "a client cannot write the node's cartridge audit trail")
})
