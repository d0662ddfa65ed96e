import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadTrustStore } from '../../../src/plugins/mod.ts'
import { dated, fails, keyIdIn, keysAndTrust, ok, when } from '../../fixtures/plugin-cli.ts'
import { writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin keygen` through the real CLI, on the real clock (the CLI has no clock option), each
// test with its own temp folders: a root with its trust store and a granted publisher, then sign and verify with them.
t.setTimeout(90_000)

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
