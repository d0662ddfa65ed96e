import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { dated, fails, keysAndTrust, ok } from '../../fixtures/plugin-cli.ts'
import { tempDir, writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin sign` through the real CLI, on the real clock (the CLI has no clock option), each
// test with its own temp folders: the tiers a key may sign, and the manifest edits.
t.setTimeout(90_000)
t.jobs = 2

t.test('signing with a key not granted the tier fails with the reason and writes nothing', async (t) => {
  const k = await keysAndTrust(t)
  const dir = await writePluginSource(t, dated({ tier: 'verified' }))
  const yaml = await readFile(join(dir, 'plugin.yaml'), 'utf8')
  const err = await fails(t, ['sign', dir, '--key', k.pub, '--trust', k.trust])
  t.match(err, /^OMNI_ERR_PLUGIN_UNTRUSTED: acme\.shout@1\.0\.0 has tier verified, but publisher key \w+ \(pub\) is only granted up to tier community/)
  t.equal(await readFile(join(dir, 'plugin.yaml'), 'utf8'), yaml, 'plugin.yaml unchanged')
  t.rejects(stat(join(dir, 'plugin.dsse.json')), { code: 'ENOENT' }, 'no envelope written')

  const other = await tempDir(t, 'cli-stranger')
  await ok(t, ['keygen', 'stranger', '--out', other])
  const community = await writePluginSource(t, dated())
  await ok(t, ['sign', community, '--key', join(other, 'stranger.key')])
  t.match(await fails(t, ['verify', community, '--trust', k.trust]), /^OMNI_ERR_PLUGIN_UNTRUSTED: .*plugin\.dsse\.json is signed by unknown key \w+; no root key or publisher grant/)
})

t.test('sign edits: --image for a container plugin, --serial next, --expires', async (t) => {
  const k = await keysAndTrust(t)
  const dir = await writePluginSource(t, dated({ runtime: 'container', image: `omni-plugin-node@sha256:${'a'.repeat(64)}` }))
  const image = `omni-plugin-node@sha256:${'b'.repeat(64)}`
  const out = await ok(t, ['sign', dir, '--key', k.pub, '--trust', k.trust, '--image', image, '--serial', 'next', '--expires', '2035-01-01'])
  t.match(out, /^serial\s+2$/m)
  t.match(out, /^expires\s+2035-01-01T00:00:00Z$/m)
  const yaml = await readFile(join(dir, 'plugin.yaml'), 'utf8')
  t.match(yaml, `image: ${image}`)
  t.match(yaml, /^# a test plugin/, 'comments kept')
  t.match(await ok(t, ['verify', dir, '--trust', k.trust]), /runtime container/)

  const err = await fails(t, ['sign', dir, '--key', k.pub, '--image', 'omni-plugin-node:latest'])
  t.match(err, /OMNI_ERR_CONFIG: --image "omni-plugin-node:latest" names a tag, not a digest/)
  t.equal(await readFile(join(dir, 'plugin.yaml'), 'utf8'), yaml, 'a refused image leaves plugin.yaml as it was')
  const isolate = await writePluginSource(t, dated())
  const original = await readFile(join(isolate, 'plugin.yaml'), 'utf8')
  t.match(await fails(t, ['sign', isolate, '--key', k.pub, '--image', image]), /OMNI_ERR_PLUGIN_MANIFEST: .*image: is only allowed for runtime container, not isolate/)
  t.equal(await readFile(join(isolate, 'plugin.yaml'), 'utf8'), original, 'a refused signature puts plugin.yaml back')
})
