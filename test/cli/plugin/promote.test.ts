import { join } from 'node:path'
import t from 'tap'
import { dated, fails, keysAndTrust, ok } from '../../fixtures/plugin-cli.ts'
import { tempDir, writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin promote` through the real CLI, on the real clock (the CLI has no clock option), each
// test with its own temp folders: a higher tier, re-signed.
t.setTimeout(90_000)

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
