import { join } from 'node:path'
import t from 'tap'
import { omni } from '../../fixtures/cli.ts'
import { dated, fails, keysAndTrust } from '../../fixtures/plugin-cli.ts'
import { writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin` through the real CLI, on the real clock (the CLI has no clock option), each
// test with its own temp folders: usage errors across its subcommands, and its help.
t.setTimeout(90_000)

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
