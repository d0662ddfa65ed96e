import { jetstream } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import t from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { HIGH_WATER_BUCKET, openHighWaterMarks, verifyPlugin, type VerifiedPlugin } from '../../src/plugins/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { createSignedPlugin, createTestTrust, NOW } from '../fixtures/plugins.ts'

const server = await startTestNats(t)
const js = jetstream(await connectTest(t, server))
const trust = await createTestTrust(t)
const key = await trust.publisher('community')
const store = await trust.load()

async function plugin(id: string, serial: number): Promise<VerifiedPlugin> {
  return verifyPlugin(await createSignedPlugin(t, key, { id, serial }), store, { now: NOW, cluster: 'eu-1' })
}

t.test('first sight, the same manifest again, a newer serial, then an older one', async (t) => {
  const hwm = await openHighWaterMarks(js)
  const v1 = await plugin('acme.one', 1)
  const v2 = await plugin('acme.one', 2)
  t.equal(await hwm.get('acme.one'), undefined)
  t.match(await hwm.check(v1), { type: 'first', mark: { serial: 1, digest: v1.digest, version: '1.0.0' } })
  t.match(await hwm.check(v1), { type: 'same' })
  t.match(await hwm.check(v2), { type: 'newer', mark: { serial: 2 }, previous: { serial: 1, digest: v1.digest } })
  t.match(await hwm.get('acme.one'), { serial: 2, digest: v2.digest })
  await t.rejects(hwm.check(v1), { code: 'OMNI_ERR_PLUGIN_ROLLBACK', message: /acme\.one@1\.0\.0 has serial 1, older than serial 2/ })
})

t.test('a mark deleted by hand is recorded again', async (t) => {
  const hwm = await openHighWaterMarks(js)
  const v = await plugin('acme.two', 1)
  await hwm.check(v)
  const kv = await new Kvm(js).open(HIGH_WATER_BUCKET)
  await kv.delete('acme.two')
  t.match(await hwm.check(v), { type: 'first' })
})

t.test('a value of the wrong shape is an error, not an absent mark', async (t) => {
  const hwm = await openHighWaterMarks(js)
  const kv = await new Kvm(js).open(HIGH_WATER_BUCKET)
  await kv.put('acme.bad', '{"serial": "high"}')
  await t.rejects(hwm.get('acme.bad'), { code: 'OMNI_ERR_PLUGIN_ROLLBACK', message: /omni_plugin_hwm\/acme\.bad holds a value of the wrong shape/ })
  await kv.put('acme.bad', 'not json')
  await t.rejects(hwm.get('acme.bad'), { code: 'OMNI_ERR_PLUGIN_ROLLBACK', message: /does not hold JSON/ })
})

t.test('nodes racing with different serials end at the highest, and nobody accepts a lower one after', async (t) => {
  const nodes = await Promise.all(Array.from({ length: 4 }, async (_, i) => openHighWaterMarks(jetstream(await connectTest(t, server, `node-${i}`)))))
  const versions = await Promise.all(Array.from({ length: 8 }, (_, i) => plugin('acme.race', i + 1)))
  const results = await Promise.allSettled(versions.map((v, i) => nodes[i % nodes.length]!.check(v)))
  for (const r of results) {
    if (r.status === 'rejected') t.ok(hasCode(r.reason, 'OMNI_ERR_PLUGIN_ROLLBACK'), 'a loser is refused as a rollback, never another error')
  }
  t.match(await nodes[0]!.get('acme.race'), { serial: 8, digest: versions[7]!.digest })
  for (const node of nodes) await t.rejects(node.check(versions[6]!), { code: 'OMNI_ERR_PLUGIN_ROLLBACK' })
})
