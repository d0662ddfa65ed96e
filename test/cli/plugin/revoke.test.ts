import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadTrustStore } from '../../../src/plugins/mod.ts'
import { dated, fails, keysAndTrust, ok } from '../../fixtures/plugin-cli.ts'
import { tempDir, writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin revoke` through the real CLI, on the real clock (the CLI has no clock option), each
// test with its own temp folders: revoked keys and yanked versions.
t.setTimeout(90_000)

t.test('revoke --key and --yank re-sign the list, keep earlier entries, and verify refuses', async (t) => {
  const k = await keysAndTrust(t)
  const dir = await writePluginSource(t, dated())
  await ok(t, ['sign', dir, '--key', k.pub, '--trust', k.trust])

  const yank = await ok(t, ['revoke', '--yank', 'acme.shout@1.0.0', '--reason', 'leaks tokens', '--root-key', k.root, '--trust', k.trust, '--expires', '10d'])
  t.match(yank, /yanked\s+acme\.shout@1\.0\.0: leaks tokens/)
  t.match(await fails(t, ['verify', dir, '--trust', k.trust]), /^OMNI_ERR_PLUGIN_REVOKED: acme\.shout@1\.0\.0 is yanked in .*revocations\.dsse\.json: leaks tokens/)

  const revoke = await ok(t, ['revoke', '--key', k.pubId, '--root-key', k.root, '--trust', k.trust])
  t.match(revoke, new RegExp(`revoked\\s+key ${k.pubId} \\(publisher "pub"\\)`))
  t.match(revoke, /1 revoked key\(s\), 1 yanked version\(s\)/)
  const store = await loadTrustStore(k.trust)
  t.same(store.revocations?.revokedKeys, [k.pubId])
  t.same(store.revocations?.yanked, [{ id: 'acme.shout', version: '1.0.0', reason: 'leaks tokens' }], 'the earlier yank is kept')

  const other = await writePluginSource(t, dated({ id: 'acme.other' }))
  await ok(t, ['sign', other, '--key', k.pub])
  t.match(await fails(t, ['verify', other, '--trust', k.trust]), new RegExp(`^OMNI_ERR_PLUGIN_REVOKED: acme\\.other@1\\.0\\.0 is signed by publisher key ${k.pubId} \\(pub\\), which is revoked`))

  t.match(await fails(t, ['revoke', '--key', k.pubId, '--root-key', k.pub, '--trust', k.trust]), /OMNI_ERR_PLUGIN_UNTRUSTED: .*pub\.key \(key \w+\) is not a root key of .*; its roots are root \(/)
  t.match(await fails(t, ['revoke', '--key', 'ABC', '--root-key', k.root, '--trust', k.trust]), /OMNI_ERR_CONFIG: --key "ABC" is not a key id/)
  t.match(await fails(t, ['revoke', '--yank', 'acme.shout', '--root-key', k.root, '--trust', k.trust]), /OMNI_ERR_CONFIG: --yank "acme\.shout" must be <id>@<version>/)
})

t.test('revoke names the pipeline stages that use an installed plugin it revokes, which a node stops at its next reload', async (t) => {
  const k = await keysAndTrust(t)
  const dir = await writePluginSource(t, dated())
  await ok(t, ['sign', dir, '--key', k.pub, '--trust', k.trust])
  const plugins = await tempDir(t, 'cli-revoke-plugins')
  await cp(dir, join(plugins, 'acme.shout'), { recursive: true })
  const manifests = await tempDir(t, 'cli-revoke-manifests')
  await mkdir(join(manifests, 'pipelines'))
  await writeFile(join(manifests, 'pipelines', 'shouter.yaml'), "kind: Pipeline\nname: shouter\nsources: [omni.evt.test.note-created.v1]\nstages:\n  - { id: shout, uses: 'plugin:acme.shout' }\n")
  await writeFile(join(manifests, 'pipelines', 'other.yaml'), 'kind: Pipeline\nname: other\nsources: [omni.evt.test.note-created.v1]\nstages:\n  - { id: e, uses: transform.enrich, with: { set: { x: 1 } } }\n')

  const where = ['--root-key', k.root, '--trust', k.trust, '--plugins', plugins, '--manifests', manifests]
  const nothing = await ok(t, ['revoke', '--yank', 'acme.other@1.0.0', ...where])
  t.match(nothing, /no pipeline in .* uses an installed plugin this revokes/)
  const yank = await ok(t, ['revoke', '--yank', 'acme.shout@1.0.0', '--reason', 'leaks tokens', ...where])
  t.match(yank, /^stops\s+pipeline shouter, stage shout \(plugin acme\.shout\): additive: the failure is recorded, the event goes on$/m, 'an alpha plugin runs additively')
  t.notMatch(yank, /pipeline other/)
  t.match(yank, /a running node stops these at its next reload/)
})
