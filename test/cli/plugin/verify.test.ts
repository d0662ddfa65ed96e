import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { dated, fails, keysAndTrust, ok } from '../../fixtures/plugin-cli.ts'
import { writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin verify` through the real CLI, on the real clock (the CLI has no clock option), each
// test with its own temp folders: what it refuses.
t.setTimeout(90_000)

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
