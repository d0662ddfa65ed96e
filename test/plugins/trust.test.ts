import { generateKeyPairSync } from 'node:crypto'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import {
  createKeyGrant,
  encodeEnvelope,
  generateSigningKey,
  loadTrustStore,
  PAYLOAD_TYPES,
  parsePluginManifest,
  publicKeyPem,
  readPublicKey,
  readSigningKey,
  signEnvelope,
  writeKeyGrant,
  writeRevocationList,
  writeSigningKey,
  type DsseEnvelope,
} from '../../src/plugins/mod.ts'
import { createTestTrust, daysFromNow, NOW, pluginYaml, tempDir } from '../fixtures/plugins.ts'

const manifest = (tier: string) => parsePluginManifest(pluginYaml({ tier: tier as 'alpha' }).replace('    - stage.js # code', `    - { path: stage.js, size: 1, sha256: ${'a'.repeat(64)} }`), 'p.yaml')

t.test('a trust store loads roots, verified grants and the revocation list', async (t) => {
  const trust = await createTestTrust(t)
  const acme = await trust.publisher('private', { name: 'acme' })
  const store = await trust.load()
  t.same(store.roots.map((r) => [r.name, r.kind, r.maxTier, r.keyid]), [['root', 'root', 'core', trust.root.keyid]])
  t.same(store.publishers.map((p) => [p.name, p.kind, p.maxTier, p.grantedBy]), [['acme', 'publisher', 'private', trust.root.keyid]])
  t.equal(store.key(acme.keyid)?.name, 'acme')
  t.equal(store.key('0'.repeat(32)), undefined)
  t.same(store.revocations?.revokedKeys, [])
  t.equal(store.authorize(acme.keyid, manifest('private'), NOW).name, 'acme', 'a grant covers its tier')
  t.equal(store.authorize(acme.keyid, manifest('alpha'), NOW).name, 'acme', 'and every tier below')
  t.throws(() => store.authorize(acme.keyid, manifest('verified'), NOW), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /only granted up to tier private/ })
  t.equal(store.authorize(trust.root.keyid, manifest('core'), NOW).kind, 'root', 'roots sign up to core')
})

t.test('a grant whose root is revoked is revoked too', async (t) => {
  const trust = await createTestTrust(t)
  const acme = await trust.publisher('private', { name: 'acme' })
  await trust.revoke({ revokedKeys: [trust.root.keyid] })
  const store = await trust.load()
  t.throws(() => store.authorize(acme.keyid, manifest('alpha'), NOW), { code: 'OMNI_ERR_PLUGIN_REVOKED', message: new RegExp(`whose grant was signed by root key ${trust.root.keyid}, which is revoked`) })
})

t.test('a tampered or foreign trust store fails to load', async (t) => {
  await t.test('a grant signed by a publisher instead of a root', async (t) => {
    const trust = await createTestTrust(t)
    const acme = await trust.publisher('core', { name: 'acme' })
    const other = generateSigningKey()
    await writeKeyGrant(trust.dir, acme, { publicKey: other.publicKey, name: 'sneaky', maxTier: 'core', expiresAt: daysFromNow(10) })
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: new RegExp(`sneaky\\.dsse\\.json is signed by unknown key ${acme.keyid}`) })
  })
  await t.test('a grant with a raised tier', async (t) => {
    const trust = await createTestTrust(t)
    await trust.publisher('alpha', { name: 'acme' })
    const file = join(trust.dir, 'publishers', 'acme.dsse.json')
    const env = JSON.parse(await readFile(file, 'utf8')) as DsseEnvelope
    const payload = Buffer.from(env.payload, 'base64').toString().replace('"alpha"', '"core"')
    await writeFile(file, encodeEnvelope({ ...env, payload: Buffer.from(payload).toString('base64') }))
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /acme\.dsse\.json: the signature of key [0-9a-f]{32} does not verify/ })
  })
  await t.test('a grant whose keyid is not its key', async (t) => {
    const trust = await createTestTrust(t)
    const a = generateSigningKey()
    const payload = { keyid: '0'.repeat(32), publicKey: publicKeyPem(a.publicKey), name: 'liar', maxTier: 'core', expiresAt: daysFromNow(5) }
    await mkdir(join(trust.dir, 'publishers'))
    await writeFile(join(trust.dir, 'publishers', 'liar.dsse.json'), encodeEnvelope(signEnvelope(PAYLOAD_TYPES.keyGrant, Buffer.from(JSON.stringify(payload)), trust.root)))
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: new RegExp(`keyid 0{32} does not match its publicKey, whose key id is ${a.keyid}`) })
  })
  await t.test('a grant with a field it should not have', async (t) => {
    const trust = await createTestTrust(t)
    const payload = { ...JSON.parse(Buffer.from(createKeyGrant(trust.root, { publicKey: generateSigningKey().publicKey, name: 'x', maxTier: 'alpha', expiresAt: daysFromNow(5) }).payload, 'base64').toString()), ids: ['*'] }
    await mkdir(join(trust.dir, 'publishers'))
    await writeFile(join(trust.dir, 'publishers', 'x.dsse.json'), encodeEnvelope(signEnvelope(PAYLOAD_TYPES.keyGrant, Buffer.from(JSON.stringify(payload)), trust.root)))
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /x\.dsse\.json is invalid: .*#ids: unknown field/ })
  })
  await t.test('the same key granted twice', async (t) => {
    const trust = await createTestTrust(t)
    const k = generateSigningKey()
    await writeKeyGrant(trust.dir, trust.root, { publicKey: k.publicKey, name: 'one', maxTier: 'alpha', expiresAt: daysFromNow(5) })
    await writeKeyGrant(trust.dir, trust.root, { publicKey: k.publicKey, name: 'two', maxTier: 'core', expiresAt: daysFromNow(5) })
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /two\.dsse\.json grants key [0-9a-f]{32}, which .*one\.dsse\.json already defines/ })
  })
  await t.test('a revocation list signed by a publisher', async (t) => {
    const trust = await createTestTrust(t)
    const acme = await trust.publisher('core', { name: 'acme' })
    await writeRevocationList(trust.dir, acme, { issuedAt: daysFromNow(0), expiresAt: daysFromNow(9), revokedKeys: [], yanked: [] })
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /revocations\.dsse\.json is signed by unknown key/ })
  })
  await t.test('no roots, or a root that is not ed25519', async (t) => {
    const trust = await createTestTrust(t)
    await rm(join(trust.dir, 'roots', 'root.pub'))
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /has no root keys .*roots\/\*\.pub/ })
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    await writeFile(join(trust.dir, 'roots', 'rsa.pub'), rsa)
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /rsa\.pub is a rsa key; only ed25519 keys are trusted/ })
    await writeFile(join(trust.dir, 'roots', 'rsa.pub'), 'not a key')
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /rsa\.pub is not a PEM public key/ })
  })
  await t.test('an oversized grant', async (t) => {
    const trust = await createTestTrust(t)
    await mkdir(join(trust.dir, 'publishers'))
    await writeFile(join(trust.dir, 'publishers', 'big.dsse.json'), 'x'.repeat(70_000))
    await t.rejects(trust.load(), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /big\.dsse\.json is 70000 bytes, over the 65536-byte limit/ })
  })
})

t.test('a trust store without a revocation list loads, and refuses every plugin', async (t) => {
  const trust = await createTestTrust(t, { revocations: false })
  const store = await loadTrustStore(trust.dir)
  t.equal(store.revocations, undefined)
  t.throws(() => store.authorize(trust.root.keyid, manifest('alpha'), NOW), { code: 'OMNI_ERR_PLUGIN_REVOKED', message: /is missing/ })
})

t.test('key files', async (t) => {
  const dir = await tempDir(t, 'keys')
  const key = generateSigningKey()
  const files = await writeSigningKey(dir, 'acme', key)
  t.equal((await stat(files.privateKeyFile)).mode & 0o777, 0o600, 'the private key is readable by its owner only')
  t.equal((await readSigningKey(files.privateKeyFile)).keyid, key.keyid)
  t.equal(publicKeyPem(await readPublicKey(files.publicKeyFile)), publicKeyPem(key.publicKey))
  await t.rejects(writeSigningKey(dir, 'acme', generateSigningKey()), { code: 'OMNI_ERR_CONFIG', message: /acme\.key already exists; refusing to overwrite a key/ })
  await t.rejects(writeSigningKey(dir, '../x', key), { code: 'OMNI_ERR_CONFIG' })
  await t.rejects(readSigningKey(files.publicKeyFile), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /is not a PEM private key/ })
  await t.rejects(readSigningKey(join(dir, 'nope.key')), { code: 'OMNI_ERR_CONFIG', message: /cannot read key file/ })
})
