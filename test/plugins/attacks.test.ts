import { jetstream } from '@nats-io/jetstream'
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  createKeyGrant,
  encodeEnvelope,
  generateSigningKey,
  openHighWaterMarks,
  PAYLOAD_TYPES,
  signEnvelope,
  signPlugin,
  verifyPlugin,
  type DsseEnvelope,
  type SigningKey,
  type VerifyOptions,
} from '../../src/plugins/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { createSignedPlugin, createTestTrust, daysFromNow, NOW, tempDir, writePluginSource, type TestTrust } from '../fixtures/plugins.ts'

const opts: VerifyOptions = { now: NOW, cluster: 'eu-1' }

/** A trust store, a community publisher and a plugin it signed. */
async function setup(t: Test, plugin: Parameters<typeof createSignedPlugin>[2] = {}): Promise<{ trust: TestTrust; key: SigningKey; dir: string }> {
  const trust = await createTestTrust(t)
  const key = await trust.publisher('community', { name: 'acme' })
  const dir = await createSignedPlugin(t, key, plugin)
  return { trust, key, dir }
}

async function verify(trust: TestTrust, dir: string, o: VerifyOptions = opts) {
  return verifyPlugin(dir, await trust.load(), o)
}

const envelopeOf = async (dir: string) => JSON.parse(await readFile(join(dir, 'plugin.dsse.json'), 'utf8')) as DsseEnvelope
const writeEnvelope = (dir: string, env: DsseEnvelope) => writeFile(join(dir, 'plugin.dsse.json'), encodeEnvelope(env))

/** Signs arbitrary manifest text as it is (what an attacker holding a key could produce) and drops plugin.yaml. */
async function signRaw(dir: string, key: SigningKey, text: string): Promise<void> {
  await writeEnvelope(dir, signEnvelope(PAYLOAD_TYPES.manifest, Buffer.from(text), key))
  await rm(join(dir, 'plugin.yaml'), { force: true })
}
const signedYaml = (dir: string) => readFile(join(dir, 'plugin.yaml'), 'utf8')

t.test('a changed byte in the code', async (t) => {
  const { trust, dir } = await setup(t)
  const code = await readFile(join(dir, 'stage.js'), 'utf8')
  await writeFile(join(dir, 'stage.js'), code.replace('toUpperCase', 'toLowerCase'))
  await t.rejects(verify(trust, dir), {
    code: 'OMNI_ERR_PLUGIN_MANIFEST',
    message: /stage\.js has the wrong sha256 for the signed manifest of acme\.shout@1\.0\.0: expected [0-9a-f]{64}, found [0-9a-f]{64}; these are not the bytes that were signed/,
  })
  await writeFile(join(dir, 'stage.js'), `${code}\n`)
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /stage\.js has the wrong size for the signed manifest of acme\.shout@1\.0\.0: expected 124 bytes, found 125/ })
})

t.test('a changed byte in the signed manifest', async (t) => {
  const { trust, key, dir } = await setup(t)
  const env = await envelopeOf(dir)
  const payload = Buffer.from(env.payload, 'base64').toString('utf8').replace('memoryMb: 64', 'memoryMb: 65')
  await writeEnvelope(dir, { ...env, payload: Buffer.from(payload).toString('base64') })
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: new RegExp(`plugin\\.dsse\\.json: the signature of key ${key.keyid} does not verify over the payload`) })

  await t.test('and an edited plugin.yaml beside an intact envelope', async (t) => {
    const { trust, dir } = await setup(t)
    await writeFile(join(dir, 'plugin.yaml'), (await signedYaml(dir)).replace('memoryMb: 64', 'memoryMb: 65'))
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin\.yaml differs from the manifest signed in plugin\.dsse\.json \(acme\.shout@1\.0\.0\)/ })
  })
})

t.test('an extra file', async (t) => {
  const { trust, dir } = await setup(t)
  await mkdir(join(dir, 'hidden'))
  await writeFile(join(dir, 'hidden', 'evil.js'), 'require("child_process")')
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /hidden\/evil\.js is not listed in entry\.files of the signed manifest of acme\.shout@1\.0\.0 \(an extra file\)/ })
})

t.test('a missing file', async (t) => {
  const { trust, dir } = await setup(t, { files: { 'stage.js': 'function stage() {}\n', 'lib/util.js': 'var x\n' } })
  await rm(join(dir, 'lib', 'util.js'))
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /lib\/util\.js is missing: listed in entry\.files of the signed manifest of acme\.shout@1\.0\.0 but not in the folder/ })
})

t.test('a ../ path in a signed manifest', async (t) => {
  const { trust, key, dir } = await setup(t)
  await signRaw(dir, key, (await signedYaml(dir)).replace('path: stage.js', 'path: ../stage.js').replace('main: stage.js', 'main: ../stage.js'))
  await t.rejects(verify(trust, dir), {
    code: 'OMNI_ERR_PLUGIN_MANIFEST',
    message: /plugin\.dsse\.json#payload:12:13: entry\.files\[0\]\.path: "\.\.\/stage\.js" contains "\.\.", which could point outside the plugin folder/,
  })
  const source = await writePluginSource(t, { files: { '../outside.js': 'x' } })
  await t.rejects(signPlugin(source, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /entry\.files\[0\]\.path "\.\.\/outside\.js" contains "\.\."/ }, 'signing refuses it before reading anything')
})

t.test('symbolic links', async (t) => {
  await t.test('a linked code file', async (t) => {
    const { trust, dir } = await setup(t)
    const outside = join(await tempDir(t, 'outside'), 'stage.js')
    await cp(join(dir, 'stage.js'), outside)
    await rm(join(dir, 'stage.js'))
    await symlink(outside, join(dir, 'stage.js'))
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /stage\.js is a symbolic link; bundles may not contain links/ })
  })
  await t.test('a linked folder', async (t) => {
    const { trust, dir } = await setup(t, { files: { 'stage.js': 'function stage() {}\n', 'lib/util.js': 'var x\n' } })
    const outside = await tempDir(t, 'outside')
    await cp(join(dir, 'lib'), outside, { recursive: true })
    await rm(join(dir, 'lib'), { recursive: true })
    await symlink(outside, join(dir, 'lib'))
    const err = await verify(trust, dir).catch((e: unknown) => e)
    t.match(err, { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /lib is a symbolic link; bundles may not contain links/ })
    t.equal((err as { problems: unknown[] }).problems.length, 1, 'the file under it is not reported a second time')
  })
  await t.test('a linked envelope', async (t) => {
    const { trust, dir } = await setup(t)
    const outside = join(await tempDir(t, 'outside'), 'env.json')
    await cp(join(dir, 'plugin.dsse.json'), outside)
    await rm(join(dir, 'plugin.dsse.json'))
    await symlink(outside, join(dir, 'plugin.dsse.json'))
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /plugin\.dsse\.json is a symbolic link/ })
  })
  await t.test('a linked plugin folder', async (t) => {
    const { trust, dir } = await setup(t)
    const link = join(await tempDir(t, 'link'), 'p')
    await symlink(dir, link)
    await t.rejects(verify(trust, link), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin folder .*\/p is a symbolic link/ })
  })
  await t.test('signing refuses links', async (t) => {
    const { key } = await setup(t)
    const dir = await writePluginSource(t)
    const outside = join(await tempDir(t, 'outside'), 'x.js')
    await writeFile(outside, 'x')
    await rm(join(dir, 'stage.js'))
    await symlink(outside, join(dir, 'stage.js'))
    await t.rejects(signPlugin(dir, key, { now: NOW }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /stage\.js is a symbolic link/ })
  })
})

t.test('duplicate JSON keys', async (t) => {
  await t.test('in the envelope', async (t) => {
    const { trust, dir } = await setup(t)
    const text = await readFile(join(dir, 'plugin.dsse.json'), 'utf8')
    await writeFile(join(dir, 'plugin.dsse.json'), text.replace('{\n', `{\n  "payloadType": "${PAYLOAD_TYPES.manifest}",\n`))
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /plugin\.dsse\.json:3:3: duplicate key "payloadType"/ })
  })
  await t.test('in the manifest', async (t) => {
    const { trust, key, dir } = await setup(t)
    await signRaw(dir, key, (await signedYaml(dir)).replace('  memoryMb: 64\n', '  memoryMb: 64\n  memoryMb: 2048\n'))
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin\.dsse\.json#payload:19:3: Map keys must be unique/ })
  })
  await t.test('in a JSON manifest', async (t) => {
    const { trust, key, dir } = await setup(t)
    await signRaw(dir, key, '{"kind": "Plugin", "id": "acme.shout", "id": "acme.other"}')
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /#payload:1:40: Map keys must be unique/ })
  })
})

t.test('a swapped payload type', async (t) => {
  const { trust, key, dir } = await setup(t)
  // a key grant is a genuine root signature, but over another kind of document
  const grant = createKeyGrant(trust.root, { publicKey: key.publicKey, name: 'x', maxTier: 'core', expiresAt: daysFromNow(1) })
  await writeEnvelope(dir, grant)
  await t.rejects(verify(trust, dir), {
    code: 'OMNI_ERR_PLUGIN_SIGNATURE',
    message: /has payloadType "application\/vnd\.omni\.key-grant\+json", expected "application\/vnd\.omni\.plugin\+yaml"/,
  })
  // relabelling it does not help: the type is part of what was signed (PAE)
  await writeEnvelope(dir, { ...grant, payloadType: PAYLOAD_TYPES.manifest })
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /the signature of key [0-9a-f]{32} does not verify over the payload/ })
})

t.test("plugin A's manifest over plugin B's code", async (t) => {
  const trust = await createTestTrust(t)
  const key = await trust.publisher('community')
  const a = await createSignedPlugin(t, key, { id: 'acme.a', files: { 'stage.js': 'function stage() { return { type: "drop", reason: "a" } }\n' } })
  const b = await createSignedPlugin(t, key, { id: 'acme.b', files: { 'stage.js': 'function stage() { return { type: "drop", reason: "B" } }\n' } })
  await cp(join(a, 'plugin.dsse.json'), join(b, 'plugin.dsse.json'))
  await t.rejects(verify(trust, b), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /plugin\.yaml differs from the manifest signed in plugin\.dsse\.json \(acme\.a@1\.0\.0\)/ })
  await cp(join(a, 'plugin.yaml'), join(b, 'plugin.yaml'))
  await t.rejects(verify(trust, b), {
    code: 'OMNI_ERR_PLUGIN_MANIFEST',
    message: /stage\.js has the wrong sha256 for the signed manifest of acme\.a@1\.0\.0: expected [0-9a-f]{64}, found [0-9a-f]{64}; these are not the bytes that were signed/,
  })
})

t.test('rollbacks, refused by every node', async (t) => {
  const server = await startTestNats(t)
  const hwmA = await openHighWaterMarks(jetstream(await connectTest(t, server, 'node-a')))
  const hwmB = await openHighWaterMarks(jetstream(await connectTest(t, server, 'node-b')))
  const trust = await createTestTrust(t)
  const key = await trust.publisher('community')
  const store = await trust.load()
  const v1 = await verifyPlugin(await createSignedPlugin(t, key, { serial: 1 }), store, opts)
  const v2 = await verifyPlugin(await createSignedPlugin(t, key, { serial: 2 }), store, opts)
  t.match(await hwmA.check(v2), { type: 'first', mark: { serial: 2 } })
  await t.test('an older serial', async (t) => {
    await t.rejects(hwmB.check(v1), { code: 'OMNI_ERR_PLUGIN_ROLLBACK', message: /acme\.shout@1\.0\.0 has serial 1, older than serial 2 \(version 1\.0\.0\) already seen; refusing a rollback/ })
  })
  await t.test('the same serial with another digest', async (t) => {
    const dir = await writePluginSource(t, { serial: 2 })
    await writeFile(join(dir, 'plugin.yaml'), (await readFile(join(dir, 'plugin.yaml'), 'utf8')).replace('shouts the text', 'shouts louder'))
    await signPlugin(dir, key, { now: NOW })
    const other = await verifyPlugin(dir, store, opts)
    await t.rejects(hwmB.check(other), {
      code: 'OMNI_ERR_PLUGIN_ROLLBACK',
      message: new RegExp(`serial 2, the same as the one already seen, but another manifest digest \\(${other.digest}, expected ${v2.digest}\\)`),
    })
    t.match(await hwmB.check(v2), { type: 'same' }, 'the very same manifest passes')
  })
})

t.test('an expired or not yet valid manifest', async (t) => {
  const { trust, key } = await setup(t)
  const expired = await createSignedPlugin(t, key, { issuedAt: daysFromNow(-30), expiresAt: daysFromNow(-1), signedAt: new Date(daysFromNow(-20)) })
  await t.rejects(verify(trust, expired), { code: 'OMNI_ERR_PLUGIN_EXPIRED', message: /acme\.shout@1\.0\.0 expired at 2026-11-30T00:00:00\.000Z \(now 2026-12-01T00:00:00\.000Z\); the publisher must re-sign it/ })
  const early = await createSignedPlugin(t, key, { issuedAt: daysFromNow(2) })
  await t.rejects(verify(trust, early), { code: 'OMNI_ERR_PLUGIN_EXPIRED', message: /is not valid yet: issuedAt 2026-12-03T00:00:00\.000Z is after now/ })
})

t.test('an expired or missing revocation list fails closed', async (t) => {
  const { trust, dir } = await setup(t)
  await trust.revoke({ issuedAt: daysFromNow(-40), expiresAt: daysFromNow(-1) })
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_REVOKED', message: /revocations\.dsse\.json expired at 2026-11-30T00:00:00\.000Z .*no plugin is trusted until a root signs a fresh one \(fail closed\)/ })
  await rm(join(trust.dir, 'revocations.dsse.json'))
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_REVOKED', message: /revocations\.dsse\.json is missing; without a revocation list signed by a root no plugin is trusted/ })
})

t.test('a revoked key', async (t) => {
  const { trust, key, dir } = await setup(t)
  await trust.revoke({ revokedKeys: [key.keyid] })
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_REVOKED', message: new RegExp(`signed by publisher key ${key.keyid} \\(acme\\), which is revoked in .*revocations\\.dsse\\.json`) })
})

t.test('a yanked version', async (t) => {
  const { trust, dir } = await setup(t)
  await trust.revoke({ yanked: [{ id: 'acme.shout', version: '1.0.0', reason: 'leaks event data' }] })
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_REVOKED', message: /acme\.shout@1\.0\.0 is yanked in .*revocations\.dsse\.json: leaks event data/ })
})

t.test('a tier above what the key may sign', async (t) => {
  const { trust, key, dir } = await setup(t)
  await signRaw(dir, key, (await signedYaml(dir)).replace('tier: alpha', 'tier: verified'))
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: new RegExp(`acme\\.shout@1\\.0\\.0 has tier verified, but publisher key ${key.keyid} \\(acme\\) is only granted up to tier community`) })
  const source = await writePluginSource(t, { tier: 'core' })
  await t.rejects(signPlugin(source, key, { now: NOW, trust: await trust.load() }), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /has tier core, but .* only granted up to tier community/ }, 'signing with a trust store refuses too')
})

t.test('an image by tag', async (t) => {
  const { trust, key, dir } = await setup(t)
  const digest = `sha256:${'a'.repeat(64)}`
  const yaml = (await signedYaml(dir)).replace('runtime: isolate', 'runtime: container')
  await signRaw(dir, key, yaml.replace('capabilities:', 'image: omni-plugin-node:1.2\ncapabilities:'))
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /image: "omni-plugin-node:1\.2" names a tag, not a digest; a tag can be moved to other code after signing/ })
  await signRaw(dir, key, yaml.replace('capabilities:', 'image: omni-plugin-node\ncapabilities:'))
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /image: "omni-plugin-node" has no digest/ })
  await signRaw(dir, key, yaml.replace('capabilities:', `image: omni-plugin-node:1.2@${digest}\ncapabilities:`))
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /names both a tag and a digest; drop the tag/ })
  await signRaw(dir, key, yaml.replace('capabilities:', `image: registry.local:5000/omni-plugin-node@${digest}\ncapabilities:`))
  t.equal((await verify(trust, dir)).manifest.image, `registry.local:5000/omni-plugin-node@${digest}`, 'a registry port is not a tag')
})

t.test('an oversized envelope is refused before parsing', async (t) => {
  const { trust, dir } = await setup(t)
  await writeFile(join(dir, 'plugin.dsse.json'), `{"payloadType": "x", "payloadType": "${'A'.repeat(70_000)}`)
  await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /plugin\.dsse\.json is 70\d{3} bytes, over the 65536-byte limit for envelopes; refused before parsing/ })
})

t.test('an unsigned plugin cannot be loaded, and no option exists to load it anyway', async (t) => {
  const { trust } = await setup(t)
  const dir = await writePluginSource(t)
  const expected = { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /unsigned plugin: .* has no plugin\.dsse\.json; there is no way to load an unsigned plugin/ }
  await t.rejects(verify(trust, dir), expected)
  for (const attempt of [{ allowUnsigned: true }, { insecure: true }, { skipSignature: true, unsigned: 'allow' }]) {
    await t.rejects(verifyPlugin(dir, await trust.load(), { ...opts, ...attempt } as VerifyOptions), expected, `ignores ${JSON.stringify(attempt)}`)
  }
  const api = Object.keys(await import('../../src/plugins/mod.ts'))
  t.same(api.filter((name) => /unsigned|insecure|skip|force|unsafe/i.test(name)), [], 'the public surface has no way around verification')
})

t.test('other trust failures', async (t) => {
  await t.test('a key the store does not know', async (t) => {
    const { trust } = await setup(t)
    const stranger = generateSigningKey()
    const dir = await createSignedPlugin(t, stranger)
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: new RegExp(`signed by unknown key ${stranger.keyid}`) })
  })
  await t.test('an expired grant', async (t) => {
    const trust = await createTestTrust(t)
    const key = await trust.publisher('community', { name: 'old', expiresAt: daysFromNow(-1) })
    const dir = await createSignedPlugin(t, key)
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /publisher key [0-9a-f]{32} \(old\), whose grant in .*old\.dsse\.json expired at 2026-11-30/ })
  })
  await t.test('a cluster or tenant outside the audience', async (t) => {
    const { trust, dir } = await setup(t, { clusters: ['us-1', 'us-2'] })
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /acme\.shout@1\.0\.0 is not signed for cluster "eu-1"; its audience\.clusters is \[us-1, us-2\]/ })
    t.ok(await verify(trust, dir, { now: NOW, cluster: 'us-2', tenant: 'any' }))
  })
  await t.test('inprocess below tier verified', async (t) => {
    const { trust, key, dir } = await setup(t)
    await signRaw(dir, key, (await signedYaml(dir)).replace('runtime: isolate', 'runtime: inprocess'))
    await t.rejects(verify(trust, dir), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /runtime: inprocess runs without a sandbox and is only allowed for tiers core and verified, not alpha/ })
  })
  await t.test('a root may sign up to core', async (t) => {
    const trust = await createTestTrust(t)
    const dir = await createSignedPlugin(t, trust.root, { tier: 'core', runtime: 'inprocess' })
    const v = await verify(trust, dir)
    t.equal(v.signer, 'root')
    t.equal(v.manifest.runtime, 'inprocess')
  })
})
