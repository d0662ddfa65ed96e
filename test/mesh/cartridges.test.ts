import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { Kvm } from '@nats-io/kv'
import { PENDING_BUCKET } from '../../src/mesh/pending.ts'
import { createRevocationList, encodeEnvelope, generateSigningKey, writeKeyGrant } from '../../src/plugins/mod.ts'
import { eventFor, keys, levels, PIPELINE, published, receiverOf, receiverOptions, refusedCount, signed, startReceiver, stateOf, tampered } from '../fixtures/cartridges.ts'
import { eventually, startTestFabric } from '../fixtures/fabric.ts'
import { createSignedPlugin, createTestTrust, daysFromNow, tempDir } from '../fixtures/plugins.ts'

// One real node (b1 of cluster b) with real plugins signed by test keys. The cartridge events it
// receives are published onto the received subjects of its events stream (omni.rcv.public.a.a1.…),
// exactly where the mesh receiver puts what it admits from peer a1.

t.test('sovereignty: L1 queues until a person approves, L2 and L3 install with their events', async (t) => {
  const k = await keys(t)
  const r = await startReceiver(t, k.trust, levels(k))
  const one = await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.one', serial: 2 }, k.trust))
  const two = await r.deliver('cartridge.published', await signed(t, k.byLevel.L2, { id: 'lab.two' }, k.trust))
  const three = await r.deliver('cartridge.published', await signed(t, k.byLevel.L3, { id: 'lab.three' }, k.trust))

  t.ok(await eventually(async () => (await r.events('cartridge.installed')).length === 2, 20_000), 'L2 and L3 were installed')
  const installed = await r.events('cartridge.installed')
  t.match(eventFor(installed, two), { id: 'lab.two', level: 'L2', origin: 'a1', by: 'mesh:L2:a1', keyid: k.byLevel.L2.keyid }, 'L2: the notification names the cartridge and its origin')
  t.match(eventFor(installed, three), { id: 'lab.three', level: 'L3', origin: 'a1', by: 'mesh:L3:a1' }, 'L3: the audit event')
  t.equal(stateOf(r.fabric, 'lab.two'), 'verified', 'lab.two is installed and verifies on this node')
  t.equal(stateOf(r.fabric, 'lab.three'), 'verified')

  t.ok(await eventually(async () => (await r.events('cartridge.pending')).length === 1), 'L1 was queued')
  t.match(eventFor(await r.events('cartridge.pending'), one), { id: 'lab.one', serial: 2, level: 'L1', origin: 'a1' })
  t.equal(stateOf(r.fabric, 'lab.one'), undefined, 'L1 is not installed before a person approves')
  const pending = await r.fabric.node.cartridges.pending()
  t.match(pending, [{ id: 'lab.one', version: '1.0.0', serial: 2, tier: 'verified', keyid: k.byLevel.L1.keyid, origin: 'a1', cluster: 'a', runtime: 'isolate', capabilities: { network: 'none' } }], 'the queue shows origin, publisher, tier and capabilities')
  t.notOk('bundle' in (pending[0] ?? {}), 'the listing leaves the bundle out')

  await r.fabric.node.cartridges.approve('lab.one', { by: 'token:alice' })
  t.equal(stateOf(r.fabric, 'lab.one'), 'verified', 'approved: installed through the normal path')
  t.same(await r.fabric.node.cartridges.pending(), [], 'and dequeued')
  t.match(eventFor(await r.events('cartridge.installed'), one), { id: 'lab.one', level: 'L1', by: 'token:alice' })
  await t.rejects(r.fabric.node.cartridges.approve('lab.one', { by: 'token:alice' }), { code: 'OMNI_ERR_NOT_FOUND' }, 'nothing left to approve')

  // a later L1 cartridge a person rejects is never installed
  const again = await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.four' }, k.trust))
  t.ok(await eventually(async () => (await r.fabric.node.cartridges.pending()).length === 1))
  await r.fabric.node.cartridges.reject('lab.four', { by: 'token:bob' })
  t.equal(stateOf(r.fabric, 'lab.four'), undefined)
  t.match(eventFor(await r.events('cartridge.refused'), again), { reason: 'cartridge-rejected', by: 'token:bob' })
})

t.test('a tampered, rolled-back, untrusted or over-tier cartridge is refused at every level', async (t) => {
  const k = await keys(t)
  const r = await startReceiver(t, k.trust, levels(k))
  const expected: { received: string; reason: string; what: string }[] = []
  const send = async (what: string, reason: string, data: Record<string, unknown>) => expected.push({ received: await r.deliver('cartridge.published', data), reason, what })
  const before = { tampered: await refusedCount('a1', 'cartridge-tampered'), rollback: await refusedCount('a1', 'cartridge-rollback') }

  for (const level of ['L1', 'L2', 'L3'] as const) {
    const key = k.byLevel[level]
    const id = `lab.${level.toLowerCase()}`
    await send(`${level} tampered file`, 'cartridge-tampered', tampered(await signed(t, key, { id, serial: 5 }, k.trust)))
    const good = await signed(t, key, { id, serial: 5 }, k.trust)
    await send(`${level} summary edited`, 'cartridge-tampered', { ...good, serial: 6 })
    // the high-water mark exists once a serial was installed: L1's through a person's approval
    const accepted = await r.deliver('cartridge.published', good)
    if (level === 'L1') {
      t.ok(await eventually(async () => (await r.fabric.node.cartridges.pending()).some((p) => p.id === id)))
      await r.fabric.node.cartridges.approve(id, { by: 'token:alice' })
    }
    t.ok(await eventually(async () => eventFor(await r.events('cartridge.installed'), accepted) !== undefined, 20_000), `${level}: serial 5 installed`)
    await send(`${level} rolled back`, 'cartridge-rollback', await signed(t, key, { id, serial: 4 }, k.trust))
  }
  // keys this node does not trust as the sender did: events assembled from the sender's own store
  const other = await createTestTrust(t)
  const stranger = await other.publisher('verified')
  await send('unknown key', 'cartridge-untrusted', await published(await createSignedPlugin(t, stranger, { id: 'lab.stranger', tier: 'verified', emit: [] }), other))
  const capped = await other.publisher('verified')
  await writeKeyGrant(k.trust.dir, k.trust.root, { publicKey: capped.publicKey, name: 'capped', maxTier: 'community', expiresAt: daysFromNow(365) })
  await send('tier above the cap', 'cartridge-tier', await published(await createSignedPlugin(t, capped, { id: 'lab.over', tier: 'verified', emit: [] }), other))

  t.ok(await eventually(async () => (await r.events('cartridge.refused')).length === expected.length, 30_000), 'every bad cartridge was refused')
  const refused = await r.events('cartridge.refused')
  for (const e of expected) t.match(eventFor(refused, e.received), { reason: e.reason, origin: 'a1' }, e.what)
  t.equal(stateOf(r.fabric, 'lab.stranger'), undefined, 'nothing refused was installed')
  t.equal(stateOf(r.fabric, 'lab.over'), undefined)
  t.same((await r.fabric.node.cartridges.pending()).map((p) => p.id), [], 'nor queued')
  for (const level of ['l1', 'l2', 'l3']) t.equal(stateOf(r.fabric, `lab.${level}`), 'verified', `lab.${level} keeps serial 5`)
  t.equal((await refusedCount('a1', 'cartridge-tampered')) - before.tampered, 6, 'counted by peer and reason')
  t.equal((await refusedCount('a1', 'cartridge-rollback')) - before.rollback, 3)
})

t.test('a received revocation list is verified, adopted when newer, and stops the plugin it revokes', async (t) => {
  const k = await keys(t)
  const r = await startReceiver(t, k.trust, levels(k))
  const three = await r.deliver('cartridge.published', await signed(t, k.byLevel.L3, { id: 'lab.three' }, k.trust))
  t.ok(await eventually(async () => eventFor(await r.events('cartridge.installed'), three) !== undefined, 20_000))
  // a pipeline uses it, so it runs
  await writeFile(join(r.manifests, 'pipelines', 'q.yaml'), 'kind: Pipeline\nname: q\nsources: [omni.evt.test.note-created.v1]\nstages:\n  - { id: s, uses: "plugin:lab.three" }\n')
  t.match(await r.fabric.reload(), { type: 'reloaded' })
  t.equal(stateOf(r.fabric, 'lab.three'), 'running')

  const list = (over: Partial<{ issuedAt: string; yanked: { id: string; version: string; reason: string }[] }>, root = k.trust.root) =>
    encodeEnvelope(createRevocationList(root, { issuedAt: daysFromNow(0), expiresAt: daysFromNow(30), revokedKeys: [], yanked: [], ...over })).toString('base64')
  const revoked = (envelope: string) => ({ issuedAt: daysFromNow(0), expiresAt: daysFromNow(30), revokedKeys: 0, yanked: 1, digest: 'a'.repeat(64), envelope })

  const forged = await r.deliver('cartridge.revoked', revoked(list({ yanked: [{ id: 'lab.three', version: '1.0.0', reason: 'forged' }] }, generateSigningKey())))
  t.ok(await eventually(async () => eventFor(await r.events('cartridge.refused'), forged) !== undefined), 'a list signed by no root of this node is refused')
  t.match(eventFor(await r.events('cartridge.refused'), forged), { reason: 'cartridge-revocations-untrusted', code: 'OMNI_ERR_PLUGIN_UNTRUSTED' })
  t.equal(stateOf(r.fabric, 'lab.three'), 'running', 'and changes nothing')

  const real = await r.deliver('cartridge.revoked', revoked(list({ yanked: [{ id: 'lab.three', version: '1.0.0', reason: 'bad build' }] })))
  t.ok(await eventually(async () => eventFor(await r.events('cartridge.revocations-adopted'), real) !== undefined, 20_000), 'the list was adopted')
  t.match(eventFor(await r.events('cartridge.revocations-adopted'), real), { addedYanks: ['lab.three@1.0.0'], stopped: ['q/s (lab.three)'], origin: 'a1' })
  t.equal(stateOf(r.fabric, 'lab.three'), 'stopped', 'the running plugin stopped')

  // an older list arriving late changes nothing and raises nothing
  const stale = await r.deliver('cartridge.revoked', revoked(list({ issuedAt: daysFromNow(-2) })))
  const dropping = await r.deliver('cartridge.revoked', revoked(list({ issuedAt: daysFromNow(1) })))
  t.ok(await eventually(async () => eventFor(await r.events('cartridge.refused'), dropping) !== undefined), 'a newer list that drops an entry is refused')
  t.equal(eventFor(await r.events('cartridge.refused'), stale), undefined, 'an older one is only kept out')
  t.equal(stateOf(r.fabric, 'lab.three'), 'stopped')
})

t.test('a node publishes an installed plugin and its revocation list as public events another node accepts', async (t) => {
  const k = await keys(t)
  const sender = await startReceiver(t, k.trust, levels(k))
  const receiver = await startReceiver(t, k.trust, levels(k))
  const first = await sender.deliver('cartridge.published', await signed(t, k.byLevel.L3, { id: 'lab.share' }, k.trust))
  t.ok(await eventually(async () => eventFor(await sender.events('cartridge.installed'), first) !== undefined, 20_000))

  const answer = await sender.fabric.node.cartridges.publish('lab.share')
  t.match(answer, { type: 'cartridge.published', duplicate: false, plugin: { id: 'lab.share', serial: 1, keyid: k.byLevel.L3.keyid } })
  const [stored] = await sender.events('cartridge.published')
  t.match(stored, { visibility: 'public', data: { id: 'lab.share', tier: 'verified' } }, 'stored as a public event for the mesh exporter')
  const got = await receiver.deliver('cartridge.published', stored!['data'] as Record<string, unknown>)
  t.ok(await eventually(async () => eventFor(await receiver.events('cartridge.installed'), got) !== undefined, 20_000), 'the other node verified and installed it')

  await k.trust.revoke({ issuedAt: daysFromNow(0), yanked: [{ id: 'lab.share', version: '1.0.0', reason: 'bad' }] })
  t.match(await sender.fabric.node.cartridges.publishRevocations(), { type: 'cartridge.revoked', yanked: 1, duplicate: false })
  const [list] = await sender.events('cartridge.revoked')
  const envelope = Buffer.from(String((list!['data'] as Record<string, unknown>)['envelope']), 'base64')
  t.same(envelope, await readFile(join(k.trust.dir, 'revocations.dsse.json')), 'it carries the signed list byte for byte')
  t.match(list, { visibility: 'public', data: { yanked: 1, revokedKeys: 0 } })
})

t.test('the pending queue is not trusted: approving an entry changed in the bucket installs nothing', async (t) => {
  const k = await keys(t)
  const r = await startReceiver(t, k.trust, levels(k))
  await r.deliver('cartridge.published', await signed(t, k.byLevel.L1, { id: 'lab.one' }, k.trust))
  t.ok(await eventually(async () => (await r.fabric.node.cartridges.pending()).length === 1))
  const kv = await new Kvm(r.fabric.js).open(PENDING_BUCKET)
  const queued = (await kv.get('lab.one'))!.json<Record<string, unknown>>()

  await kv.put('lab.one', JSON.stringify(tampered(queued)))
  await t.rejects(r.fabric.node.cartridges.approve('lab.one', { by: 'token:alice' }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /does not match its manifest/ }, 'a changed file is caught by the install path')
  t.equal(stateOf(r.fabric, 'lab.one'), undefined)

  const outside = await tempDir(t, 'outside')
  await kv.put('lab.one', JSON.stringify({ ...queued, id: `../../../../../../..${outside}/x` }))
  await t.rejects(r.fabric.node.cartridges.approve('lab.one', { by: 'token:alice' }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /is not a plugin id/ }, 'an id that is a path names no folder')
  t.same(await readdir(outside), [], 'nothing was written outside the plugins folder')
  t.equal((await r.fabric.node.cartridges.pending()).length, 1, 'a refused approval leaves the entry for a person to reject')
})

t.test('a mesh node without plugins refuses received cartridges for good, and says why', async (t) => {
  const k = await keys(t)
  const options = await receiverOptions(t, k.trust, levels(k))
  const { plugins: _none, ...withoutPlugins } = options
  const { fabric, dir } = await startTestFabric(t, PIPELINE, withoutPlugins)
  const r = receiverOf(fabric, dir)
  const sent = await r.deliver('cartridge.published', await signed(t, k.byLevel.L3, { id: 'lab.three' }, k.trust))
  t.ok(await eventually(async () => eventFor(await r.events('cartridge.refused'), sent) !== undefined))
  t.match(eventFor(await r.events('cartridge.refused'), sent), { reason: 'cartridge-no-plugins', code: 'OMNI_ERR_UNAVAILABLE', message: /runs without plugins/ })
})
