import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { startNode } from '../../src/node/mod.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import type { ManagedNatsServer } from '../../src/server/mod.ts'
import { receivedSubject } from '../../src/wire/mesh.ts'
import { CARTRIDGES_CATALOG, eventFor, keys, PIPELINE } from '../fixtures/cartridges.ts'
import { fabricOf, readSubject, type Fabric } from '../fixtures/fabric.ts'
import { testLookup, writeManifests } from '../fixtures/manifests.ts'
import { eventually, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { createSignedPlugin, NOW, tempDir, type TestTrust } from '../fixtures/plugins.ts'

// End to end over real leaf nodes: a1 (cluster a) publishes an installed plugin; the event crosses
// hub-a and hub-b (federated for public events) by JetStream sourcing under the hubs' permissions
// and b1 (cluster b) admits it through its receiver, verifies it and installs it.
t.setTimeout(180_000)

async function meshNode(t: Test, server: ManagedNatsServer, mesh: MeshConfig, trust: TestTrust, plugins: string): Promise<Fabric> {
  const manifests = await writeManifests(t, { 'catalog.yaml': CARTRIDGES_CATALOG, 'pipelines/p.yaml': PIPELINE.replace('omni.evt.test.note-created.v1', 'omni.evt.plugins.cartridge-pending.v1') })
  const options = { dir: plugins, trust: trust.dir, cluster: 'local', dockerSocket: join(await tempDir(t, 'nodocker'), 'docker.sock'), workDir: await tempDir(t, 'sandbox'), now: () => NOW }
  const node = await startNode({ lookup: testLookup, logger: silentLogger(), manifests, watch: false, nats: { url: server.url, credentials: MESH_PLATFORM }, plugins: options, mesh })
  t.teardown(() => node.close())
  return fabricOf(node)
}

t.test('a cartridge published on a1 is verified and installed on b1, two hops away in another cluster', async (t) => {
  const k = await keys(t)
  const topo = await meshTopology()
  const servers = await startMeshServers(t, topo)
  const sovereignty: MeshConfig['sovereignty'] = { default: 'L1', keys: { [k.byLevel.L3.keyid]: 'L3' }, tiers: {} }

  const a1Plugins = await tempDir(t, 'a1-plugins')
  await cp(await createSignedPlugin(t, k.byLevel.L3, { id: 'lab.share', tier: 'verified', emit: [] }), join(a1Plugins, 'lab.share'), { recursive: true })
  const a1 = await meshNode(t, servers.a1!, { ...topo.a1, sovereignty }, k.trust, a1Plugins)
  const b1 = await meshNode(t, servers.b1!, { ...topo.b1, sovereignty }, k.trust, await tempDir(t, 'b1-plugins'))

  const published = await a1.node.cartridges.publish('lab.share')
  t.match(published, { type: 'cartridge.published', duplicate: false })
  const [stored] = await readSubject(a1, published.subject)
  // a1's exporter puts it in its public outbox; b1's inbox sources it over b1 → hub-b → hub-a → a1,
  // and b1's receiver admits it onto its received subject with origin a1
  await eventually('b1 to admit the cartridge', async () => (await readSubject(b1, receivedSubject('public', 'a', 'a1', published.subject))).length === 1, 30_000)
  const [admitted] = await readSubject(b1, receivedSubject('public', 'a', 'a1', published.subject))
  t.equal(admitted!['origin'], 'a1', 'admitted with its origin')
  t.ok(JSON.stringify(admitted).length > 1000, 'the bundle crossed two hops whole')
  await eventually('b1 to install it', async () => eventFor(await readSubject(b1, 'omni.evt.plugins.cartridge-installed.v1'), String(stored!['id'])) !== undefined, 30_000)
  t.match(eventFor(await readSubject(b1, 'omni.evt.plugins.cartridge-installed.v1'), String(stored!['id'])), { id: 'lab.share', level: 'L3', origin: 'a1', keyid: k.byLevel.L3.keyid })
  t.equal(b1.pluginStatus().find((p) => p.id === 'lab.share')?.state, 'verified', 'installed on b1 and verifying there')
})
