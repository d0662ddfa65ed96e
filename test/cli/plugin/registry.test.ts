import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { dated, fails, ok } from '../../fixtures/plugin-cli.ts'
import { startTestNats } from '../../fixtures/nats.ts'
import { tempDir, writePluginSource } from '../../fixtures/plugins.ts'

// `omni plugin publish / install / list / approve / verify --nats` through the real CLI against a
// real nats-server, on the real clock.
t.setTimeout(180_000)
t.jobs = 2

interface ListRow {
  id: string
  version: string
  serial: number
  tier: string
  runtime: string
  additive: boolean
  verified: boolean
  error?: { code: string }
  approval?: { state: string; by?: string; widened?: string[] }
}

t.test('publish → install into another folder → list; approve; a widened capability needs approval again', async (t) => {
  const server = await startTestNats(t)
  const nats = ['--nats', server.url]
  const dir = await tempDir(t, 'cli-registry')
  const keys = join(dir, 'keys')
  const trust = join(dir, 'trust')
  const plugins = join(dir, 'node-b', 'plugins')
  const where = ['--trust', trust, '--plugins', plugins]
  await ok(t, ['keygen', 'root', '--root', '--out', keys, '--trust', trust])
  await ok(t, ['keygen', 'pub', '--grant-with', join(keys, 'root.key'), '--tier', 'community', '--out', keys, '--trust', trust])
  const key = join(keys, 'pub.key')
  const src = await writePluginSource(t, dated({ emit: ['omni.evt.acme.shouted.v1'] }))
  await ok(t, ['sign', src, '--key', key, '--trust', trust])

  t.match(await ok(t, ['publish', src, '--trust', trust, ...nats]), /^published acme\.shout@1\.0\.0 to omni_plugins: serial 1, tier alpha, digest sha256:[0-9a-f]{64}, signer pub, \d+ bytes$/m)
  const registry = JSON.parse(await ok(t, ['list', '--registry', '--json', ...nats])) as { name: string; serial: number; additive: boolean }[]
  t.same(registry.map((e) => [e.name, e.serial, e.additive]), [['acme.shout@1.0.0', 1, true]])
  t.match(await ok(t, ['list', '--registry', ...nats]), /^ID\s+VERSION\s+SERIAL\s+TIER\s+ADDITIVE\s+SIGNER\s+DIGEST\s+SIZE\s+PUBLISHED\nacme\.shout\s+1\.0\.0\s+1\s+alpha\s+yes\s+pub\s/)

  const installed = await ok(t, ['install', 'acme.shout@1.0.0', ...where, ...nats])
  t.match(installed, `installed acme.shout@1.0.0 into ${join(plugins, 'acme.shout')}`)
  t.match(installed, /high-water: serial 1 recorded, the first seen for this id/)
  t.match(installed, /approval: none yet; it does not run until approved/)
  t.same(await readdir(plugins), ['acme.shout'], 'only the plugin folder is left, no staging folder')

  const table = await ok(t, ['list', ...where, ...nats])
  t.match(table, /^ID\s+VERSION\s+SERIAL\s+TIER\s+RUNTIME\s+ADDITIVE\s+APPROVED\s+VERIFIED\nacme\.shout\s+1\.0\.0\s+1\s+alpha\s+isolate\s+yes\s+no\s+ok\n/)
  t.match(table, /acme\.shout: not approved yet: omni plugin approve acme\.shout$/m)

  t.match(await fails(t, ['verify', join(plugins, 'acme.shout'), '--trust', trust, ...nats]), /^OMNI_ERR_PLUGIN_APPROVAL: acme\.shout@1\.0\.0 has no approved capabilities/)
  t.match(await fails(t, ['approve', 'acme.shout', ...where, ...nats]), /OMNI_ERR_CONFIG: acme\.shout@1\.0\.0 was not approved: stdin is not a terminal; pass --yes/)
  const approved = await ok(t, ['approve', 'acme.shout', '--yes', ...where, ...nats])
  t.match(approved, /capabilities:\n\s+runtime\s+isolate\n\s+emit\s+omni\.evt\.acme\.shouted\.v1\n\s+memoryMb\s+64\n/)
  t.match(approved, /previous approval: none/)
  t.match(approved, /^approved acme\.shout@1\.0\.0 \(serial 1\) by cli:[^@\s]+@\S+ at /m)
  const verified = await ok(t, ['verify', join(plugins, 'acme.shout'), '--trust', trust, ...nats])
  t.match(verified, /^ok  high-water  serial 1 with this digest is the one recorded$/m)
  t.match(verified, /^ok  approval    approved by cli:\S+ at .* \(version 1\.0\.0, serial 1\); nothing asked beyond it$/m)
  t.match(await ok(t, ['install', 'acme.shout@1.0.0', ...where, ...nats]), /high-water: serial 1 with this digest was already recorded\n\s+approval: approved by cli:\S+ \(version 1\.0\.0, serial 1\)$/m)
  const listed = JSON.parse(await ok(t, ['list', '--json', ...where, ...nats])) as ListRow[]
  t.match(listed, [{ id: 'acme.shout', version: '1.0.0', serial: 1, tier: 'alpha', runtime: 'isolate', additive: true, verified: true, approval: { state: 'approved', by: /^cli:/ } }])

  // the publisher re-signs with a new emit subject: the high-water mark allows it, the approval does not
  const yaml = await readFile(join(src, 'plugin.yaml'), 'utf8')
  const wider = yaml.replace(/emit: \[ ?omni\.evt\.acme\.shouted\.v1 ?\]/, 'emit: [omni.evt.acme.shouted.v1, omni.cmd.bank.transfer.v1]')
  t.not(wider, yaml, 'the emit list was widened')
  await writeFile(join(src, 'plugin.yaml'), wider)
  t.match(await ok(t, ['sign', src, '--key', key, '--serial', 'next']), /^serial\s+2$/m)
  const widened = await fails(t, ['verify', src, '--trust', trust, ...nats])
  t.match(widened, /^OMNI_ERR_PLUGIN_APPROVAL: acme\.shout@1\.0\.0 asks for more than was approved \(by cli:\S+ for 1\.0\.0, serial 1\): emit "omni\.cmd\.bank\.transfer\.v1" is new/)
  await ok(t, ['publish', src, '--trust', trust, ...nats])
  t.match(await ok(t, ['install', 'acme.shout@1.0.0', ...where, ...nats]), /high-water: serial 2 recorded \(was 1\)[^]*approval: needed again, it asks for more than approved \(emit "omni\.cmd\.bank\.transfer\.v1" is new/)
  const needs = await ok(t, ['list', ...where, ...nats])
  t.match(needs, /acme\.shout\s+1\.0\.0\s+2\s+alpha\s+isolate\s+yes\s+widened: 1 capability\s+ok/)
  t.match(needs, /acme\.shout: needs approval: emit "omni\.cmd\.bank\.transfer\.v1" is new/)
  const again = await ok(t, ['approve', join(plugins, 'acme.shout'), '--yes', '--trust', trust, ...nats])
  t.match(again, /previous approval: by cli:\S+ at .*, version 1\.0\.0, serial 1\nwidened since then:\n\s+emit "omni\.cmd\.bank\.transfer\.v1" is new/)
  t.match(await ok(t, ['verify', src, '--trust', trust, ...nats]), /ok  approval    approved by cli:/)
})

t.test('install refuses a rollback and leaves the installed plugin as it was; a broken folder is listed with its reason', async (t) => {
  const server = await startTestNats(t)
  const nats = ['--nats', server.url]
  const dir = await tempDir(t, 'cli-rollback')
  const keys = join(dir, 'keys')
  const trust = join(dir, 'trust')
  const plugins = join(dir, 'plugins')
  const where = ['--trust', trust, '--plugins', plugins]
  await ok(t, ['keygen', 'root', '--root', '--out', keys, '--trust', trust])
  const root = join(keys, 'root.key')
  const v1 = await writePluginSource(t, dated({ version: '1.0.0', serial: 1 }))
  const v2 = await writePluginSource(t, dated({ version: '2.0.0', serial: 2 }))
  for (const src of [v1, v2]) {
    await ok(t, ['sign', src, '--key', root])
    await ok(t, ['publish', src, '--trust', trust, ...nats])
  }
  await ok(t, ['install', 'acme.shout@2.0.0', ...where, ...nats])
  t.match(await fails(t, ['install', 'acme.shout@1.0.0', ...where, ...nats]), /^OMNI_ERR_PLUGIN_ROLLBACK: acme\.shout@1\.0\.0 has serial 1, older than serial 2 \(version 2\.0\.0\) already seen; refusing a rollback/)
  t.same(await readdir(plugins), ['acme.shout'], 'no staging folder left')
  t.match(await ok(t, ['list', ...where]), /acme\.shout\s+2\.0\.0\s+2\s/)
  t.match(await fails(t, ['verify', v1, '--trust', trust, ...nats]), /^OMNI_ERR_PLUGIN_ROLLBACK: acme\.shout@1\.0\.0 has serial 1, older than serial 2/)
  t.match(await fails(t, ['install', 'acme.nothing@1.0.0', ...where, ...nats]), /OMNI_ERR_NOT_FOUND: acme\.nothing@1\.0\.0 is not published in the cluster registry/)

  await ok(t, ['revoke', '--yank', 'acme.shout@2.0.0', '--reason', 'crashes', '--root-key', root, '--trust', trust])
  const rows = JSON.parse(await ok(t, ['list', '--json', ...where])) as ListRow[]
  t.match(rows, [{ id: 'acme.shout', version: '2.0.0', verified: false, error: { code: 'OMNI_ERR_PLUGIN_REVOKED' } }])
  const table = await ok(t, ['list', ...where])
  t.match(table, /acme\.shout\s+2\.0\.0\s+2\s+alpha\s+isolate\s+yes\s+no: OMNI_ERR_PLUGIN_REVOKED\n/)
  t.match(table, /acme\.shout: OMNI_ERR_PLUGIN_REVOKED: acme\.shout@2\.0\.0 is yanked in .*: crashes/)
  t.match(await ok(t, ['list', '--plugins', join(dir, 'none'), '--trust', trust]), /^no plugins installed in /)
})
