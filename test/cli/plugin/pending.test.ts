import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { keys, levels, receiverOptions, receiverOf, PIPELINE, signed } from '../../fixtures/cartridges.ts'
import { eventually, startTestFabric } from '../../fixtures/fabric.ts'
import { fails, ok } from '../../fixtures/plugin-cli.ts'
import { tempDir } from '../../fixtures/plugins.ts'
import { writeSigningKey } from '../../../src/plugins/mod.ts'

// `omni plugin pending`, `pending approve|reject` and `publish --mesh` through the real CLI against
// a real node that received L1 cartridges (the fixtures' plugins are valid on the real clock too).
t.setTimeout(180_000)

t.test('the CLI lists, approves and rejects pending cartridges and publishes an installed one to the mesh', async (t) => {
  const k = await keys(t)
  const options = await receiverOptions(t, k.trust, levels(k))
  const { fabric, dir, server } = await startTestFabric(t, PIPELINE, options)
  const r = receiverOf(fabric, dir)
  await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.one' }, k.trust))
  await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.two' }, k.trust))
  t.ok(await eventually(async () => (await fabric.node.cartridges.pending()).length === 2))
  const where = ['--nats', server.url, '--manifests', dir, '--plugins', options.plugins.dir, '--trust', k.trust.dir]

  const listed = await ok(t, ['pending', ...where])
  t.match(listed, /^lab\.one@1\.0\.0 serial 1, tier verified, from a1 \(cluster a\) at .+\n {2}signed by k1 \([0-9a-f]{32}\), digest sha256:[0-9a-f]{64}, runtime isolate\n {2}capabilities \{.*"network":"none".*\}$/m)
  t.same((JSON.parse(await ok(t, ['pending', '--json', ...where])) as { id: string }[]).map((p) => p.id), ['lab.one', 'lab.two'])

  t.match(await fails(t, ['pending', 'approve', 'lab.one', '--digest', 'f'.repeat(64), ...where]), /OMNI_ERR_PLUGIN_APPROVAL.*not the reviewed/)
  t.match(await ok(t, ['pending', 'approve', 'lab.one', ...where]), /^installed lab\.one@1\.0\.0 \(serial 1\) from a1 and approved its capabilities as cli:/m)
  t.ok(await stat(join(options.plugins.dir, 'lab.one', 'plugin.dsse.json')), 'installed in the plugins folder')
  t.match(await ok(t, ['pending', 'reject', 'lab.two', '--reason', 'not for us', ...where]), /^rejected lab\.two@1\.0\.0/m)
  t.match(await ok(t, ['pending', ...where]), /^no cartridge is waiting for approval$/m)
  t.match(await fails(t, ['pending', 'approve', 'lab.two', ...where]), /OMNI_ERR_NOT_FOUND/)

  t.match(await ok(t, ['publish', '--mesh', 'lab.one', ...where]), /^published lab\.one@1\.0\.0 to the mesh as cartridge\.published \(omni\.evt\.plugins\.cartridge-published\.v1 seq \d+\): serial 1, tier verified/m)
  t.match(await ok(t, ['publish', '--mesh', 'lab.one', ...where]), /^already published lab\.one@1\.0\.0/m)
  t.match(await fails(t, ['publish', '--mesh', 'not-an-id', ...where]), /not a plugin id/)

  // a revocation signed here goes to the mesh too, byte for byte the list written
  const rootDir = await tempDir(t, 'root-key')
  await writeSigningKey(rootDir, 'root', k.trust.root)
  const revoked = await ok(t, ['revoke', '--yank', 'lab.one@1.0.0', '--root-key', join(rootDir, 'root.key'), '--mesh', ...where])
  t.match(revoked, /^published the list issued \S+ to the mesh as cartridge\.revoked \(omni\.evt\.plugins\.cartridge-revoked\.v1 seq \d+\)$/m)
  const [event] = await r.events('cartridge.revoked')
  t.same(Buffer.from(String((event!['data'] as Record<string, unknown>)['envelope']), 'base64'), await readFile(join(k.trust.dir, 'revocations.dsse.json')))
})
