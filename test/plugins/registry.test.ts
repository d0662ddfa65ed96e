import { jetstream } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import {
  BUNDLE_FORMAT,
  openPluginRegistry,
  promotePlugin,
  REGISTRY_BUCKET,
  verifyPlugin,
  type VerifiedPlugin,
} from '../../src/plugins/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { createSignedPlugin, createTestTrust, NOW, STAGE_JS, tempDir, type TestPluginOptions } from '../fixtures/plugins.ts'

const server = await startTestNats(t)
const js = jetstream(await connectTest(t, server))
const trust = await createTestTrust(t)
const key = await trust.publisher('verified', { name: 'acme' })
const opts = { now: NOW, cluster: 'eu-1' }

async function plugin(o: TestPluginOptions = {}): Promise<VerifiedPlugin> {
  return verifyPlugin(await createSignedPlugin(t, key, o), await trust.load(), opts)
}

/** Stores a raw blob under a name, as someone with write access to the bucket could. */
async function putRaw(name: string, blob: unknown): Promise<void> {
  const store = await new Objm(js).open(REGISTRY_BUCKET)
  await store.putBlob({ name }, Buffer.from(JSON.stringify(blob)))
}
const blobOf = (v: VerifiedPlugin) => ({
  format: BUNDLE_FORMAT,
  envelope: v.envelope.toString('base64'),
  files: [...v.files].map(([path, bytes]) => ({ path, data: bytes.toString('base64') })),
})

t.test('publish, list, fetch and install round trip', async (t) => {
  const registry = await openPluginRegistry(js)
  const v = await plugin({ id: 'acme.round', files: { 'stage.js': STAGE_JS, 'lib/x.js': 'var x\n' } })
  const entry = await registry.publish(v)
  t.match(entry, { name: 'acme.round@1.0.0', id: 'acme.round', version: '1.0.0', serial: 1, digest: v.digest, tier: 'alpha', signer: 'acme' })
  t.same(await registry.publish(v), entry, 'publishing the same manifest again changes nothing')
  t.match((await registry.list()).find((e) => e.name === 'acme.round@1.0.0'), { digest: v.digest })
  const bundle = await registry.fetch('acme.round', '1.0.0')
  t.ok(bundle?.envelope.equals(v.envelope))
  t.same([...(bundle?.files.keys() ?? [])].sort(), ['lib/x.js', 'stage.js'])
  t.equal(await registry.fetch('acme.round', '9.9.9'), undefined)

  const pluginsDir = await tempDir(t, 'installed')
  const installed = await registry.install('acme.round', '1.0.0', pluginsDir, await trust.load(), opts)
  t.equal(installed.dir, join(pluginsDir, 'acme.round'))
  t.equal(installed.digest, v.digest)
  t.equal(installed.source, STAGE_JS)
  t.same((await readdir(pluginsDir)).sort(), ['acme.round'], 'no temp folder is left')
  t.same((await readdir(installed.dir)).sort(), ['lib', 'plugin.dsse.json', 'plugin.yaml', 'stage.js'])
  t.equal(await readFile(join(installed.dir, 'plugin.yaml'), 'utf8'), Buffer.from(JSON.parse(v.envelope.toString()).payload, 'base64').toString())
  t.ok(await verifyPlugin(installed.dir, await trust.load(), opts), 'the installed folder verifies on its own')
})

t.test('a version is republished only with a higher serial', async (t) => {
  const registry = await openPluginRegistry(js)
  const store = await trust.load()
  const dir = await createSignedPlugin(t, key, { id: 'acme.promo', serial: 2 })
  const alpha = await verifyPlugin(dir, store, opts)
  await registry.publish(alpha)
  const sameSerial = await plugin({ id: 'acme.promo', serial: 2, memoryMb: 65 })
  await t.rejects(registry.publish(sameSerial), { code: 'OMNI_ERR_PLUGIN_ROLLBACK', message: /acme\.promo@1\.0\.0 is already published with serial 2 \(digest [0-9a-f]{64}\); publishing serial 2 \(digest [0-9a-f]{64}\) over it needs a higher serial/ })
  await t.rejects(registry.publish(await plugin({ id: 'acme.promo', serial: 1 })), { code: 'OMNI_ERR_PLUGIN_ROLLBACK' })

  await promotePlugin(dir, key, { tier: 'verified', trust: store, now: NOW })
  const promoted = await verifyPlugin(dir, store, opts)
  t.match(await registry.publish(promoted), { serial: 3, tier: 'verified' })

  const pluginsDir = await tempDir(t, 'installed')
  await registry.install('acme.promo', '1.0.0', pluginsDir, store, opts)
  await registry.publish(await plugin({ id: 'acme.promo', serial: 4, tier: 'verified' }))
  const replaced = await registry.install('acme.promo', '1.0.0', pluginsDir, store, opts)
  t.equal(replaced.manifest.serial, 4, 'a reinstall replaces the folder')
  t.same(await readdir(pluginsDir), ['acme.promo'], 'the previous install is removed, nothing is left beside it')
})

t.test('a bad object never leaves a folder behind, and keeps the previous install', async (t) => {
  const registry = await openPluginRegistry(js)
  const store = await trust.load()
  const pluginsDir = await tempDir(t, 'installed')
  const good = await plugin({ id: 'acme.safe' })
  await registry.publish(good)
  await registry.install('acme.safe', '1.0.0', pluginsDir, store, opts)

  const tampered = blobOf(good)
  tampered.files[0]!.data = Buffer.from(STAGE_JS.replace('toUpperCase', 'toLowerCase')).toString('base64')
  await putRaw('acme.safe@1.0.0', tampered)
  await t.rejects(registry.install('acme.safe', '1.0.0', pluginsDir, store, opts), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /stage\.js has the wrong sha256 for the signed manifest of acme\.safe@1\.0\.0/ })
  t.same(await readdir(pluginsDir), ['acme.safe'])
  t.equal(await readFile(join(pluginsDir, 'acme.safe', 'stage.js'), 'utf8'), STAGE_JS, 'the previous install is untouched')

  await putRaw('acme.safe@1.0.0', { ...blobOf(good), files: [{ path: '../../escape.js', data: 'eA==' }] })
  await t.rejects(registry.install('acme.safe', '1.0.0', pluginsDir, store, opts), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /omni_plugins\/acme\.safe@1\.0\.0: file path "\.\.\/\.\.\/escape\.js" contains "\.\."/ })

  await putRaw('acme.safe@1.0.0', { ...blobOf(good), extra: true })
  await t.rejects(registry.install('acme.safe', '1.0.0', pluginsDir, store, opts), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /#extra: unknown field/ })

  await putRaw('acme.other@1.0.0', blobOf(good))
  await t.rejects(registry.install('acme.other', '1.0.0', pluginsDir, store, opts), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /registry object acme\.other@1\.0\.0 holds acme\.safe@1\.0\.0; refusing a bundle stored under another name/ })
  t.same(await readdir(pluginsDir), ['acme.safe'])
})

t.test('install verifies against the trust store of the installing node', async (t) => {
  const registry = await openPluginRegistry(js)
  const dir = await createSignedPlugin(t, key, { id: 'acme.scoped', clusters: ['us-1'] })
  await registry.publish(await verifyPlugin(dir, await trust.load(), { now: NOW, cluster: 'us-1' }))
  const pluginsDir = await tempDir(t, 'installed')
  await t.rejects(registry.install('acme.scoped', '1.0.0', pluginsDir, await trust.load(), opts), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /not signed for cluster "eu-1"/ })
  t.same(await readdir(pluginsDir), [])
  await t.rejects(registry.install('acme.missing', '1.0.0', pluginsDir, await trust.load(), opts), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /acme\.missing@1\.0\.0 is not published in the omni_plugins object store/ })
  await t.rejects(registry.install('../etc', '1.0.0', pluginsDir, await trust.load(), opts), { code: 'OMNI_ERR_CONFIG', message: /"\.\.\/etc" is not a plugin id/ })
  await t.rejects(registry.fetch('acme.x', 'latest'), { code: 'OMNI_ERR_CONFIG', message: /"latest" is not a semantic version/ })
})
