import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadTrustStore } from '../../src/plugins/mod.ts'
import { omni } from '../fixtures/cli.ts'
import { dated, fails, ok, when } from '../fixtures/plugin-cli.ts'
import { tempDir, writePluginSource } from '../fixtures/plugins.ts'

// `omni plugin` keys, signing, verification, revocation and promotion through the real CLI, on
// the real clock (the CLI has no clock option), each test with its own temp folders.
// The tests are independent: run a few at once (each CLI call is a Node start-up).
t.setTimeout(90_000)
t.jobs = 4

const keyIdIn = (out: string) => /^keyid\s+([0-9a-f]{32})$/m.exec(out)?.[1] ?? ''

interface Keys {
  readonly trust: string
  readonly root: string
  readonly rootId: string
  /** granted up to community */
  readonly pub: string
  readonly pubId: string
}

/** A root (with its trust store) and a publisher granted up to community, made by keygen. */
async function keysAndTrust(t: Test): Promise<Keys> {
  const dir = await tempDir(t, 'cli-keys')
  const keys = join(dir, 'keys')
  const trust = join(dir, 'trust')
  const rootId = keyIdIn(await ok(t, ['keygen', 'root', '--root', '--out', keys, '--trust', trust]))
  const pubId = keyIdIn(await ok(t, ['keygen', 'pub', '--grant-with', join(keys, 'root.key'), '--tier', 'community', '--expires', '30d', '--out', keys, '--trust', trust]))
  return { trust, root: join(keys, 'root.key'), rootId, pub: join(keys, 'pub.key'), pubId }
}

t.test('keygen makes a root and a grant; sign then verify prints every check', async (t) => {
  const k = await keysAndTrust(t)
  t.match(k.rootId, /^[0-9a-f]{32}$/)
  t.equal((await stat(k.root)).mode & 0o777, 0o600, 'the private key is readable by its owner only')
  const store = await loadTrustStore(k.trust)
  t.same(store.roots.map((r) => [r.name, r.keyid]), [['root', k.rootId]])
  t.same(store.publishers.map((p) => [p.name, p.keyid, p.maxTier, p.grantedBy]), [['pub', k.pubId, 'community', k.rootId]])
  t.same(store.revocations?.revokedKeys, [])
  t.ok(Date.parse(store.revocations?.expiresAt ?? '') > Date.parse(when(89)), 'the new revocation list expires in 90 days by default')

  const dir = await writePluginSource(t, dated())
  const signed = await ok(t, ['sign', dir, '--key', k.pub, '--trust', k.trust])
  t.match(signed, /^id\s+acme\.shout$/m)
  t.match(signed, /^version\s+1\.0\.0$/m)
  t.match(signed, /^serial\s+1$/m)
  t.match(signed, /^digest\s+sha256:[0-9a-f]{64}$/m)
  t.equal(keyIdIn(signed), k.pubId)
  t.match(signed, /signer\s+publisher key \w+ "pub" \(up to tier community, granted by root "root"/)

  const verified = await ok(t, ['verify', dir, '--trust', k.trust, '--cluster', 'eu-1'])
  for (const check of ['signature', 'tier', 'revocation', 'dates', 'audience', 'files']) t.match(verified, new RegExp(`^ok  ${check} `, 'm'), `check ${check} printed`)
  t.match(verified, /audience\s+cluster "eu-1" is in \[\*\]/)
  t.match(verified, /stage\.js \(\d+ bytes\)/)
  t.match(verified, /^verified acme\.shout@1\.0\.0 serial 1, digest sha256:[0-9a-f]{64}$/m)

  const again = await fails(t, ['keygen', 'root', '--out', join(k.root, '..')])
  t.match(again, /OMNI_ERR_CONFIG: .*root\.key already exists; refusing to overwrite a key/)
})

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

t.test('verify names the tampered file; an unsigned folder is refused', async (t) => {
  const k = await keysAndTrust(t)
  const dir = await writePluginSource(t, dated())
  await ok(t, ['sign', dir, '--key', k.pub])
  await writeFile(join(dir, 'stage.js'), "function stage(input) { return { type: 'drop', reason: 'evil' } }\n")
  const err = await fails(t, ['verify', dir, '--trust', k.trust])
  t.match(err, /^OMNI_ERR_PLUGIN_MANIFEST: plugin folder .* does not match its manifest: .*stage\.js /)

  const unsigned = await writePluginSource(t, dated())
  t.match(await fails(t, ['verify', unsigned, '--trust', k.trust]), /OMNI_ERR_PLUGIN_SIGNATURE: unsigned plugin: .* has no plugin\.dsse\.json/)
  t.match(await fails(t, ['verify', unsigned, '--trust', join(k.trust, 'missing')]), /OMNI_ERR_PLUGIN_UNTRUSTED: trust store .*missing does not exist; create it with `omni plugin keygen <name> --root/)
})

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

t.test('promote alpha → verified re-signs with serial + 1 and a key granted the new tier', async (t) => {
  const k = await keysAndTrust(t)
  const seniorDir = await tempDir(t, 'cli-senior')
  await ok(t, ['keygen', 'senior', '--grant-with', k.root, '--tier', 'verified', '--out', seniorDir, '--trust', k.trust])
  const senior = join(seniorDir, 'senior.key')
  const dir = await writePluginSource(t, dated({ tier: 'alpha' }))
  await ok(t, ['sign', dir, '--key', k.pub, '--trust', k.trust])

  t.match(await fails(t, ['promote', dir, '--tier', 'verified', '--key', k.pub, '--trust', k.trust]), /OMNI_ERR_PLUGIN_UNTRUSTED: acme\.shout@1\.0\.0 has tier verified, but publisher key \w+ \(pub\) is only granted up to tier community/)
  const promoted = await ok(t, ['promote', dir, '--tier', 'verified', '--key', senior, '--trust', k.trust])
  t.match(promoted, /^promoted acme\.shout@1\.0\.0 from tier alpha to tier verified$/m)
  t.match(promoted, /^serial\s+2$/m)
  const verified = await ok(t, ['verify', dir, '--trust', k.trust])
  t.match(verified, /ok  tier\s+verified \(runs on the approved path\)/)
  t.match(verified, /serial 2/)
  t.match(await fails(t, ['promote', dir, '--tier', 'community', '--key', senior, '--trust', k.trust]), /OMNI_ERR_CONFIG: .*promotion must go to a higher tier, not community/)
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

t.test('bad usage gives a clear error and exit code 1', async (t) => {
  const k = await keysAndTrust(t)
  const dir = await writePluginSource(t, dated())
  t.match(await fails(t, ['sign', dir]), /error: required option '--key <file>' not specified/)
  t.match(await fails(t, ['promote', dir, '--tier', 'gold', '--key', k.pub, '--trust', k.trust]), /OMNI_ERR_CONFIG: --tier "gold" is not a tier; use one of alpha, community, private, verified, core/)
  t.match(await fails(t, ['keygen', 'x', '--grant-with', k.root, '--trust', k.trust]), /OMNI_ERR_CONFIG: --grant-with needs --tier <tier>/)
  t.match(await fails(t, ['keygen', 'x', '--tier', 'alpha']), /OMNI_ERR_CONFIG: --tier only applies with --grant-with/)
  t.match(await fails(t, ['keygen', 'x', '--root', '--grant-with', k.root]), /OMNI_ERR_CONFIG: --root and --grant-with exclude each other/)
  t.match(await fails(t, ['keygen', 'x', '--grant-with', k.pub, '--tier', 'alpha', '--trust', k.trust]), /OMNI_ERR_PLUGIN_UNTRUSTED: .*pub\.key \(key \w+\) is not a root key/)
  t.match(await fails(t, ['sign', dir, '--key', k.pub, '--serial', 'last']), /OMNI_ERR_CONFIG: --serial "last" must be "next" or a positive integer/)
  t.match(await fails(t, ['sign', dir, '--key', k.pub, '--expires', 'soon']), /OMNI_ERR_CONFIG: --expires "soon" is neither a duration/)
  t.match(await fails(t, ['sign', dir, '--key', k.pub, '--expires', '2001-01-01']), /OMNI_ERR_CONFIG: --expires 2001-01-01 is not in the future/)
  t.match(await fails(t, ['sign', dir, '--key', join(dir, 'nope.key')]), /OMNI_ERR_CONFIG: cannot read key file .*nope\.key/)
  t.match(await fails(t, ['verify', dir, '--trust', k.trust, '--cluster', 'EU 1']), /OMNI_ERR_CONFIG: --cluster "EU 1" is not a cluster name/)
  t.match(await fails(t, ['install', 'acme.shout', '--trust', k.trust]), /OMNI_ERR_CONFIG: plugin "acme\.shout" must be <id>@<version>/)

  const help = await omni(['plugin', '--help'])
  for (const cmd of ['keygen', 'sign', 'promote', 'verify', 'publish', 'install', 'list', 'approve', 'revoke', 'image']) t.match(help.stdout, new RegExp(`^  ${cmd} `, 'm'))
  t.match((await omni(['plugin', 'verify', '--help'])).stdout, /read only: verify records nothing/)
})
