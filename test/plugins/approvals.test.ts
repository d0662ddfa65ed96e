import { jetstream } from '@nats-io/jetstream'
import t from 'tap'
import { Kvm } from '@nats-io/kv'
import { APPROVALS_BUCKET, openApprovals, subjectCovers, verifyPlugin, widenedCapabilities, type VerifiedPlugin } from '../../src/plugins/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { createSignedPlugin, createTestTrust, NOW, type TestPluginOptions } from '../fixtures/plugins.ts'

const server = await startTestNats(t)
const js = jetstream(await connectTest(t, server))
const trust = await createTestTrust(t)
const key = await trust.publisher('verified')
const store = await trust.load()

let serial = 0
async function plugin(o: TestPluginOptions = {}): Promise<VerifiedPlugin> {
  return verifyPlugin(await createSignedPlugin(t, key, { serial: ++serial, ...o }), store, { now: NOW, cluster: 'eu-1' })
}

t.test('a plugin nobody approved is refused, with the fix', async (t) => {
  const approvals = await openApprovals(js)
  const v = await plugin({ id: 'acme.new' })
  await t.rejects(approvals.check(v), {
    code: 'OMNI_ERR_PLUGIN_APPROVAL',
    message: /acme\.new@1\.0\.0 has no approved capabilities \(runtime isolate, emit \[omni\.evt\.acme\.shouted\.v1\], memoryMb 64, timeoutMs 1000, cpus 0\.5, pids 32\); review it and run `omni plugin approve acme\.new`/,
  })
  const approval = await approvals.approve(v, 'alice', NOW)
  t.match(approval, { id: 'acme.new', serial: v.manifest.serial, digest: v.digest, approvedBy: 'alice', approvedAt: NOW.toISOString(), runtime: 'isolate' })
  t.same(await approvals.check(v), approval)
  t.same(await approvals.get('acme.new'), approval)
  await t.rejects(approvals.approve(v, ' '), { code: 'OMNI_ERR_CONFIG' })
})

t.test('widened capabilities are each named', async (t) => {
  const approvals = await openApprovals(js)
  await approvals.approve(await plugin({ id: 'acme.wide', emit: ['omni.evt.acme.a.v1'] }), 'alice', NOW)
  const wider = await plugin({ id: 'acme.wide', emit: ['omni.evt.acme.a.v1', 'omni.evt.acme.b.v1'], memoryMb: 128, timeoutMs: 2000 })
  const err = await approvals.check(wider).catch((e: unknown) => e)
  t.match(err, {
    code: 'OMNI_ERR_PLUGIN_APPROVAL',
    message: /acme\.wide@1\.0\.0 asks for more than was approved \(by alice for 1\.0\.0, serial \d+\): emit "omni\.evt\.acme\.b\.v1" is new \(approved: "omni\.evt\.acme\.a\.v1"\); memoryMb 128 is more than the approved 64; timeoutMs 2000 is more than the approved 1000; review it and run `omni plugin approve acme\.wide`/,
  })
  t.equal((err as { problems: unknown[] }).problems.length, 3)
  const inprocess = await plugin({ id: 'acme.wide', emit: ['omni.evt.acme.a.v1'], runtime: 'inprocess', tier: 'verified' })
  await t.rejects(approvals.check(inprocess), { code: 'OMNI_ERR_PLUGIN_APPROVAL', message: /runtime inprocess is less isolated than the approved isolate/ })
  await approvals.approve(wider, 'bob', NOW)
  t.equal((await approvals.check(wider)).approvedBy, 'bob', 'approving records the wider capabilities')
})

t.test('narrower or equal capabilities pass', async (t) => {
  const approvals = await openApprovals(js)
  await approvals.approve(await plugin({ id: 'acme.narrow', emit: ['omni.evt.acme.>'], memoryMb: 256, timeoutMs: 5000 }), 'alice', NOW)
  const narrower = await plugin({ id: 'acme.narrow', emit: ['omni.evt.acme.shouted.v1', 'omni.evt.acme.*.v2'], memoryMb: 64, timeoutMs: 1000 })
  t.equal((await approvals.check(narrower)).approvedBy, 'alice')
  const none = await plugin({ id: 'acme.narrow', emit: [] })
  t.ok(await approvals.check(none), 'emitting nothing is narrower than anything')
  const other = await plugin({ id: 'acme.narrow', emit: ['omni.evt.other.x.v1'] })
  await t.rejects(approvals.check(other), { message: /emit "omni\.evt\.other\.x\.v1" is new \(approved: "omni\.evt\.acme\.>"\)/ })
})

t.test('subject coverage', async (t) => {
  const cases: [string, string, boolean][] = [
    ['omni.evt.a.v1', 'omni.evt.a.v1', true],
    ['omni.evt.*.v1', 'omni.evt.a.v1', true],
    ['omni.evt.*.v1', 'omni.evt.*.v1', true],
    ['omni.evt.a.v1', 'omni.evt.*.v1', false],
    ['omni.evt.>', 'omni.evt.a.b.c', true],
    ['omni.evt.>', 'omni.evt.>', true],
    ['omni.evt.>', 'omni.evt', false],
    ['omni.evt.*', 'omni.evt.>', false],
    ['omni.evt.*', 'omni.evt.a.b', false],
    ['omni.evt.a', 'omni.evt', false],
  ]
  for (const [wide, narrow, covers] of cases) t.equal(subjectCovers(wide, narrow), covers, `${wide} covers ${narrow}: ${covers}`)
})

t.test('an approval is bound to the signing key and the tier: a verified re-sign or another publisher\'s plugin of the same id is not approved', async (t) => {
  const approvals = await openApprovals(js)
  const alpha = await plugin({ id: 'acme.bound', tier: 'alpha' })
  const approval = await approvals.approve(alpha, 'token:alice', NOW)
  t.match(approval, { keyid: alpha.keyid, tier: 'alpha', approvedBy: 'token:alice' })
  t.ok(await approvals.check(alpha))

  // the same capabilities, re-signed at a higher tier by the same key
  const resigned = await plugin({ id: 'acme.bound', tier: 'verified' })
  t.equal(resigned.keyid, alpha.keyid)
  await t.rejects(approvals.check(resigned), { code: 'OMNI_ERR_PLUGIN_APPROVAL', message: /tier verified is not the approved tier alpha/ })

  // another publisher's plugin of the same id, asking for exactly the same
  const other = await trust.publisher('verified', { name: 'mallory' })
  const foreign = await verifyPlugin(await createSignedPlugin(t, other, { id: 'acme.bound', tier: 'alpha', serial: ++serial }), await trust.load(), { now: NOW, cluster: 'eu-1' })
  await t.rejects(approvals.check(foreign), { code: 'OMNI_ERR_PLUGIN_APPROVAL', message: new RegExp(`signed by key ${foreign.keyid} \\(mallory\\), not by the approved key ${alpha.keyid}`) })
  t.same(widenedCapabilities(foreign, approval), [`signed by key ${foreign.keyid} (mallory), not by the approved key ${alpha.keyid}`], 'the review shows it')
})

t.test('an approval recorded before the binding (no key, no tier) covers nothing', async (t) => {
  const v = await plugin({ id: 'acme.legacy' })
  const kv = await new Kvm(js).create(APPROVALS_BUCKET, { history: 5 })
  const m = v.manifest
  await kv.put(m.id, JSON.stringify({ id: m.id, version: m.version, serial: m.serial, digest: v.digest, runtime: m.runtime, capabilities: m.capabilities, approvedBy: 'alice', approvedAt: NOW.toISOString() }))
  const approvals = await openApprovals(js)
  await t.rejects(approvals.check(v), { code: 'OMNI_ERR_PLUGIN_APPROVAL', message: /recorded before approvals were bound to the signing key and tier/ })
  await approvals.approve(v, 'token:alice', NOW)
  t.ok(await approvals.check(v), 'approving again binds it')
})
