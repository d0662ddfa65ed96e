import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { isAdditiveTier, pluginCode, verifyPlugin } from '../../src/plugins/mod.ts'
import { createSignedPlugin, createTestTrust, NOW, STAGE_JS } from '../fixtures/plugins.ts'

t.test('a plugin signed by a granted publisher verifies and exposes the verified bytes', async (t) => {
  const trust = await createTestTrust(t)
  const key = await trust.publisher('community', { name: 'acme' })
  const dir = await createSignedPlugin(t, key, { files: { 'stage.js': STAGE_JS, 'lib/util.js': 'var x = 1\n' } })
  const v = await verifyPlugin(dir, await trust.load(), { now: NOW, cluster: 'eu-1' })
  t.equal(v.manifest.id, 'acme.shout')
  t.equal(v.manifest.tier, 'alpha')
  t.ok(isAdditiveTier(v.manifest.tier))
  t.equal(v.keyid, key.keyid)
  t.equal(v.signer, 'acme')
  t.equal(v.dir, dir)
  t.equal(v.source, STAGE_JS)
  t.same([...v.files.keys()].sort(), ['lib/util.js', 'stage.js'])
  t.match(v.digest, /^[0-9a-f]{64}$/)
  t.same(v.manifest.capabilities, { emit: ['omni.evt.acme.shouted.v1'], memoryMb: 64, timeoutMs: 1000, network: 'none', cpus: 0.5, pids: 32 })
  t.same(pluginCode(v), { id: 'acme.shout', version: '1.0.0', dir, main: 'stage.js', source: STAGE_JS, limits: { memoryMb: 64, timeoutMs: 1000, cpus: 0.5, pids: 32 } })
  t.ok(Object.isFrozen(v.manifest.capabilities.emit))
  const yaml = await readFile(join(dir, 'plugin.yaml'), 'utf8')
  t.match(yaml, /# a test plugin/, 'comments survive signing')
  t.match(yaml, /sha256: [0-9a-f]{64}/)
})
