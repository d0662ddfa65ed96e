import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { generateSigningKey, promotePlugin, sha256Hex, signPlugin, verifyPlugin } from '../../src/plugins/mod.ts'
import { createSignedPlugin, createTestTrust, daysFromNow, NOW, STAGE_JS, writePluginSource } from '../fixtures/plugins.ts'

const opts = { now: NOW, cluster: 'eu-1' }

t.test('signing fills in sizes and digests and keeps comments', async (t) => {
  const key = generateSigningKey()
  const dir = await writePluginSource(t, { files: { 'stage.js': STAGE_JS, 'lib/a.js': 'var a = 1\n' } })
  // one entry as a map without size, one as a plain path; a wrong digest would be corrected too
  const yaml = (await readFile(join(dir, 'plugin.yaml'), 'utf8')).replace('- stage.js # code', `- { path: stage.js, size: 1, sha256: ${'0'.repeat(64)} } # main`)
  await writeFile(join(dir, 'plugin.yaml'), yaml)
  const signed = await signPlugin(dir, key, { now: NOW })
  t.equal(signed.keyid, key.keyid)
  t.same(signed.manifest.entry.files, [
    { path: 'stage.js', size: Buffer.byteLength(STAGE_JS), sha256: sha256Hex(Buffer.from(STAGE_JS)) },
    { path: 'lib/a.js', size: 10, sha256: sha256Hex(Buffer.from('var a = 1\n')) },
  ])
  const text = await readFile(join(dir, 'plugin.yaml'), 'utf8')
  t.match(text, /^# a test plugin\n/)
  t.match(text, /# main/)
  t.equal(signed.digest, sha256Hex(Buffer.from(text)), 'the digest is of the written plugin.yaml, which is the payload')
  const again = await signPlugin(dir, key, { now: NOW })
  t.equal(again.digest, signed.digest, 're-signing an unchanged folder yields the same manifest')
})

t.test('signing refuses what verification would refuse', async (t) => {
  const key = generateSigningKey()
  await t.test('a missing file', async (t) => {
    const dir = await writePluginSource(t)
    await rm(join(dir, 'stage.js'))
    await t.rejects(signPlugin(dir, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /stage\.js is missing: listed in entry\.files of plugin\.yaml but not in the folder/ })
  })
  await t.test('an extra file', async (t) => {
    const dir = await writePluginSource(t)
    await writeFile(join(dir, 'notes.txt'), 'x')
    await t.rejects(signPlugin(dir, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /notes\.txt is not listed in entry\.files \(an extra file\); list it or remove it/ })
  })
  await t.test('no plugin.yaml', async (t) => {
    const dir = await writePluginSource(t)
    await rm(join(dir, 'plugin.yaml'))
    await t.rejects(signPlugin(dir, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin\.yaml is missing/ })
  })
  await t.test('an invalid manifest', async (t) => {
    const dir = await writePluginSource(t, { memoryMb: 4096 })
    await t.rejects(signPlugin(dir, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin\.yaml:\d+:\d+: capabilities\.memoryMb: must be <= 2048/ })
    const broken = await writePluginSource(t)
    await writeFile(join(broken, 'plugin.yaml'), 'kind: Plugin\nkind: Plugin\n')
    await t.rejects(signPlugin(broken, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin\.yaml:2:1: Map keys must be unique/ })
    const noFiles = await writePluginSource(t)
    await writeFile(join(noFiles, 'plugin.yaml'), 'kind: Plugin\nentry: { main: stage.js }\n')
    await t.rejects(signPlugin(noFiles, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /entry\.files must list the plugin's files/ })
  })
  await t.test('an expiry already past', async (t) => {
    const dir = await writePluginSource(t, { issuedAt: daysFromNow(-9), expiresAt: daysFromNow(-1) })
    await t.rejects(signPlugin(dir, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_EXPIRED', message: /expiresAt 2026-11-30T00:00:00\.000Z is already past/ })
  })
})

t.test('signing can raise the serial', async (t) => {
  const key = generateSigningKey()
  const dir = await writePluginSource(t, { serial: 4 })
  t.equal((await signPlugin(dir, key, { now: NOW, edits: { serial: 'next' } })).manifest.serial, 5)
  t.equal((await signPlugin(dir, key, { now: NOW, edits: { serial: 9, expiresAt: daysFromNow(10) } })).manifest.expiresAt, daysFromNow(10))
})

t.test('promote: a higher tier, serial + 1, re-signed by a key granted that tier', async (t) => {
  const trust = await createTestTrust(t)
  const community = await trust.publisher('community', { name: 'community' })
  const verifier = await trust.publisher('verified', { name: 'verifier' })
  const dir = await createSignedPlugin(t, community, { serial: 3 })
  const store = await trust.load()
  const before = await verifyPlugin(dir, store, opts)

  await t.rejects(promotePlugin(dir, community, { tier: 'verified', trust: store, now: NOW }), {
    code: 'OMNI_ERR_PLUGIN_UNTRUSTED',
    message: /has tier verified, but publisher key [0-9a-f]{32} \(community\) is only granted up to tier community/,
  })
  await t.rejects(promotePlugin(dir, verifier, { tier: 'alpha', trust: store, now: NOW }), { code: 'OMNI_ERR_CONFIG', message: /is tier alpha; promotion must go to a higher tier, not alpha/ })

  const promoted = await promotePlugin(dir, verifier, { tier: 'verified', trust: store, now: NOW })
  t.equal(promoted.manifest.tier, 'verified')
  t.equal(promoted.manifest.serial, 4)
  const after = await verifyPlugin(dir, store, opts)
  t.equal(after.signer, 'verifier')
  t.same(after.manifest.entry.files, before.manifest.entry.files, 'the code is unchanged')
  t.not(after.digest, before.digest)
  await t.rejects(promotePlugin(dir, verifier, { tier: 'private', trust: store, now: NOW }), { code: 'OMNI_ERR_CONFIG', message: /is tier verified; promotion must go to a higher tier/ })
})

t.test('promote refuses a folder that does not verify', async (t) => {
  const trust = await createTestTrust(t)
  const key = await trust.publisher('core')
  const dir = await createSignedPlugin(t, key)
  await writeFile(join(dir, 'stage.js'), 'function stage() { /* swapped */ }\n')
  await t.rejects(promotePlugin(dir, key, { tier: 'verified', trust: await trust.load(), now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /stage\.js has the wrong size/ })
})
