import { readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { BUNDLE_FORMAT, openPluginRegistry, verifyPlugin, writeSigningKey, type SigningKey, type VerifiedPlugin } from '../../src/plugins/mod.ts'
import { bearer, startTestApi, type TestApi } from '../fixtures/api.ts'
import { eventually, readSubject } from '../fixtures/fabric.ts'
import { createSignedPlugin, createTestTrust, NOW, tempDir, type TestPluginOptions, type TestTrust } from '../fixtures/plugins.ts'

t.setTimeout(180_000)

interface Setup extends TestApi {
  readonly trust: TestTrust
  readonly plugins: string
  /** granted up to community: may sign alpha plugins, not promote them to verified */
  readonly publisher: SigningKey
  /** `<trust>/keys`, where the API reads private keys from: holds root.key and pub.key */
  readonly keys: string
  /** a folder outside the trust store */
  readonly outside: string
}

/**
 * The API on a fabric with an (empty) plugins folder and a test trust store, on the fixtures'
 * clock; the root's and the publisher's private keys are in `<trust>/keys`.
 */
async function setup(t: Test, pipeline?: string): Promise<Setup> {
  const trust = await createTestTrust(t)
  const publisher = await trust.publisher('community', { name: 'pub' })
  const plugins = join(await tempDir(t, 'api-plugins'), 'plugins')
  const outside = await tempDir(t, 'api-outside')
  const keys = join(trust.dir, 'keys')
  await writeSigningKey(keys, 'root', trust.root)
  await writeSigningKey(keys, 'pub', publisher)
  const api = await startTestApi(t, {
    ...(pipeline ? { pipeline } : {}),
    fabric: {
      plugins: { dir: plugins, trust: trust.dir, cluster: 'local', dockerSocket: join(outside, 'no-docker.sock'), workDir: await tempDir(t, 'api-sandbox'), now: () => NOW },
    },
  })
  return { ...api, trust, plugins, publisher, keys, outside }
}

/** A signed plugin folder, verified. */
async function signed(t: Test, s: Setup, key: SigningKey, o: TestPluginOptions = {}): Promise<VerifiedPlugin> {
  const dir = await createSignedPlugin(t, key, o)
  return verifyPlugin(dir, await s.trust.load(), { cluster: 'local', now: NOW })
}

/** A verified plugin as the install body carries it, in the registry's bundle format. */
function bundleOf(v: VerifiedPlugin) {
  return { format: BUNDLE_FORMAT, envelope: v.envelope.toString('base64'), files: [...v.files].map(([path, bytes]) => ({ path, data: bytes.toString('base64') })) }
}

const post = (s: Setup, url: string, payload: unknown, scope: 'admin' | 'read' = 'admin') => s.app.inject({ method: 'POST', url, headers: bearer(scope), payload: payload as object })
const list = async (t: Test, s: Setup) => {
  const r = await s.app.inject({ method: 'GET', url: '/v1/plugins', headers: bearer('read') })
  t.equal(r.statusCode, 200, r.body)
  return r.json() as { enabled: boolean; plugins: Record<string, unknown>[] }
}

const SHOUTER = `kind: Pipeline
name: shouter
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: shout, uses: 'plugin:acme.shout' }
`

t.test('install from the registry, then approve: each change reloads the fabric, which starts the pipeline once the plugin is approved', async (t) => {
  const s = await setup(t)
  t.same(await list(t, s), { enabled: true, plugins: [] })
  const v = await signed(t, s, s.publisher, { id: 'acme.shout' })
  await (await openPluginRegistry(s.fabric.js)).publish(v)
  // a pipeline that uses the plugin, waiting for it: the fabric refuses it until it is installed and approved
  await writeFile(join(s.dir, 'pipelines', 'shouter.yaml'), SHOUTER)

  const installed = await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0' })
  t.equal(installed.statusCode, 201, installed.body)
  const body = installed.json()
  t.match(body, { source: 'registry', plugin: { id: 'acme.shout', version: '1.0.0', serial: 1, tier: 'alpha', runtime: 'isolate', additive: true, digest: v.digest, signer: 'pub' }, highWater: { type: 'first', serial: 1 }, approval: { state: 'none' } })
  t.equal(body.reload.type, 'rejected', 'the pipeline that uses it still waits for the approval')
  t.match(body.reload.problems[0].message, /acme\.shout@1\.0\.0 has no approved capabilities/)
  t.same(await readdir(s.plugins), ['acme.shout'], 'installed, with no staging folder left')
  t.match((await list(t, s)).plugins, [{ id: 'acme.shout', folder: 'acme.shout', version: '1.0.0', verified: true, digest: v.digest, state: 'verified', approval: { state: 'none' } }])

  const wrongDigest = await post(s, '/v1/plugins/acme.shout/approve', { digest: '0'.repeat(64) })
  t.equal(wrongDigest.statusCode, 403)
  t.match(wrongDigest.json().error, { code: 'OMNI_ERR_PLUGIN_APPROVAL', message: /not the reviewed 0{64}/ })

  const approved = await post(s, '/v1/plugins/acme.shout/approve', { digest: v.digest })
  t.equal(approved.statusCode, 200, approved.body)
  t.match(approved.json(), { plugin: { id: 'acme.shout' }, capabilities: { emit: ['omni.evt.acme.shouted.v1'], memoryMb: 64, timeoutMs: 1000, network: 'none' }, previous: null, widened: [], approval: { by: 'token:test-admin', version: '1.0.0', serial: 1, keyid: v.keyid, tier: 'alpha' } })
  t.same(approved.json().reload, { type: 'reloaded', added: ['shouter'], changed: [], removed: [] }, 'the approval lets the waiting pipeline start')
  t.ok(s.fabric.workers().some((w) => w.name === 'shouter'), 'its worker runs')
  t.match((await list(t, s)).plugins, [{ id: 'acme.shout', state: 'running', approval: { state: 'approved', by: 'token:test-admin' } }])

  const again = await post(s, '/v1/plugins/acme.shout/approve', {})
  t.match(again.json(), { previous: { by: 'token:test-admin', serial: 1 }, widened: [], approval: { by: 'token:test-admin' } })
})

t.test('install refuses tampered, unsigned, untrusted, rolled-back and unpublished plugins with their own codes, leaving the installed one as it was', async (t) => {
  const s = await setup(t)
  const v2 = await signed(t, s, s.publisher, { version: '2.0.0', serial: 2 })
  const ok = await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '2.0.0', bundle: bundleOf(v2) })
  t.equal(ok.statusCode, 201, ok.body)
  t.match(ok.json(), { source: 'upload', plugin: { version: '2.0.0', serial: 2 }, highWater: { type: 'first', serial: 2 } })

  const v3 = await signed(t, s, s.publisher, { version: '3.0.0', serial: 3 })
  const tamperedCode = bundleOf(v3)
  tamperedCode.files[0] = { path: 'stage.js', data: Buffer.from("function stage() { return { type: 'drop', reason: 'evil' } }\n").toString('base64') }
  const envelope = JSON.parse(v3.envelope.toString('utf8')) as { payload: string; signatures: unknown[] }
  const tamperedManifest = { ...bundleOf(v3), envelope: Buffer.from(JSON.stringify({ ...envelope, payload: Buffer.from(Buffer.from(envelope.payload, 'base64').toString('utf8').replace('memoryMb: 64', 'memoryMb: 512')).toString('base64') })).toString('base64') }
  const unsigned = { ...bundleOf(v3), envelope: Buffer.from(JSON.stringify({ ...envelope, signatures: [] })).toString('base64') }
  const stranger = await createTestTrust(t)
  const untrusted = await verifyPlugin(await createSignedPlugin(t, stranger.root, { version: '3.0.0', serial: 3 }), await stranger.load(), { cluster: 'local', now: NOW })
  const v1 = await signed(t, s, s.publisher, { version: '1.0.0', serial: 1 })
  const cases: [string, unknown, string, number][] = [
    ['a code file changed after signing', tamperedCode, 'OMNI_ERR_PLUGIN_MANIFEST', 400],
    ['a manifest changed after signing', tamperedManifest, 'OMNI_ERR_PLUGIN_SIGNATURE', 403],
    ['an envelope without signatures', unsigned, 'OMNI_ERR_PLUGIN_SIGNATURE', 403],
    ['a key the trust store does not know', bundleOf(untrusted), 'OMNI_ERR_PLUGIN_UNTRUSTED', 403],
  ]
  for (const [what, bundle, code, status] of cases) {
    const r = await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '3.0.0', bundle })
    t.equal(r.statusCode, status, `${what}: ${r.body}`)
    t.equal(r.json().error.code, code, what)
  }
  const rollback = await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v1) })
  t.equal(rollback.statusCode, 409)
  t.match(rollback.json().error, { code: 'OMNI_ERR_PLUGIN_ROLLBACK', message: /serial 1, older than serial 2/ })
  const otherName = await post(s, '/v1/plugins/install', { id: 'acme.other', version: '3.0.0', bundle: bundleOf(v3) })
  t.match(otherName.json().error, { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /holds acme\.shout@3\.0\.0/ })
  const missing = await post(s, '/v1/plugins/install', { id: 'acme.nothing', version: '1.0.0' })
  t.equal(missing.statusCode, 404)
  t.match(missing.json().error, { code: 'OMNI_ERR_NOT_FOUND', message: /acme\.nothing@1\.0\.0 is not published/ })

  t.same(await readdir(s.plugins), ['acme.shout'], 'no staging folders left behind')
  t.match((await list(t, s)).plugins, [{ id: 'acme.shout', version: '2.0.0', serial: 2, verified: true }], 'the installed plugin is the one installed before the refusals')
})

t.test('revoke yanks the installed version with a root key file on the server; the fabric rejects it after', async (t) => {
  const s = await setup(t)
  const rootKey = 'root.key'
  const v = await signed(t, s, s.publisher)
  t.equal((await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v) })).statusCode, 201)
  t.match((await list(t, s)).plugins, [{ state: 'verified', verified: true }])

  const notRoot = await post(s, '/v1/plugins/acme.shout/revoke', { rootKey: 'pub.key' })
  t.equal(notRoot.statusCode, 403)
  t.match(notRoot.json().error, { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /is not a root key/ })

  const yanked = await post(s, '/v1/plugins/acme.shout/revoke', { rootKey, reason: 'leaks tokens' })
  t.equal(yanked.statusCode, 200, yanked.body)
  t.match(yanked.json(), { yanked: [{ version: '1.0.0', reason: 'leaks tokens', added: true }], list: { revokedKeys: 0, yanked: 1 }, reload: { type: 'reloaded' } })
  t.same((await s.trust.load()).revocations?.yanked, [{ id: 'acme.shout', version: '1.0.0', reason: 'leaks tokens' }], 'the signed list on disk holds the yank')
  const [row] = (await list(t, s)).plugins
  t.match(row, { id: 'acme.shout', version: '1.0.0', verified: false, error: { code: 'OMNI_ERR_PLUGIN_REVOKED' }, state: 'rejected', reason: /yanked/ })

  const twice = await post(s, '/v1/plugins/acme.shout/revoke', { rootKey, versions: ['1.0.0', '1.1.0'] })
  t.match(twice.json().yanked, [{ version: '1.0.0', reason: 'leaks tokens', added: false }, { version: '1.1.0', added: true }])
  const reinstall = await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v) })
  t.equal(reinstall.statusCode, 403)
  t.equal(reinstall.json().error.code, 'OMNI_ERR_PLUGIN_REVOKED', 'a yanked version cannot be installed again')
})

t.test('keys are read only from <trust>/keys: a link out of it, a missing key, a folder or a huge file are refused alike', async (t) => {
  const s = await setup(t)
  const v = await signed(t, s, s.publisher)
  t.equal((await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v) })).statusCode, 201)
  const revocations = join(s.trust.dir, 'revocations.dsse.json')
  const before = await readFile(revocations)

  // the root key itself, outside the keys folder, reached through a link inside it
  const outsideKey = (await writeSigningKey(s.outside, 'root', s.trust.root)).privateKeyFile
  await symlink(outsideKey, join(s.keys, 'linked.key'))
  // a link to a key inside the folder is refused too: only plain files are read
  await symlink(join(s.keys, 'root.key'), join(s.keys, 'alias.key'))
  await symlink(s.outside, join(s.keys, 'dir.key'))
  await writeFile(join(s.keys, 'huge.key'), Buffer.alloc(16 * 1024 + 1, 'A'))
  const refusals: Record<string, string> = {}
  for (const name of ['linked.key', 'alias.key', 'absent.key', 'dir.key', 'huge.key']) {
    const r = await post(s, '/v1/plugins/acme.shout/revoke', { rootKey: name })
    t.equal(r.statusCode, 400, `${name}: ${r.body}`)
    const message = `no usable key named "${name}" in ${s.keys}`
    t.same(r.json().error, { code: 'OMNI_ERR_CONFIG', status: 400, message: `$.rootKey: ${message}`, problems: [{ where: '$.rootKey', message }] }, `${name} is refused with the one message`)
    refusals[name] = (r.json().error.message as string).replace(name, 'X')
  }
  t.equal(new Set(Object.values(refusals)).size, 1, 'no refusal tells what is there')
  const promote = await post(s, '/v1/plugins/acme.shout/promote', { tier: 'verified', key: 'linked.key' })
  t.equal(promote.statusCode, 400)
  t.same(promote.json().error.problems, [{ where: '$.key', message: `no usable key named "linked.key" in ${s.keys}` }])
  t.same(await readFile(revocations), before, 'the revocation list was not re-signed')
  t.match((await list(t, s)).plugins, [{ tier: 'alpha', serial: 1, verified: true }], 'nor the plugin promoted')
})

t.test('promote re-signs the installed plugin at a higher tier with a key granted it, publishes it and reloads', async (t) => {
  const s = await setup(t)
  const senior = await s.trust.publisher('verified', { name: 'senior' })
  await writeSigningKey(s.keys, 'senior', senior)
  const seniorKey = 'senior.key'
  const pubKey = 'pub.key'
  const v = await signed(t, s, s.publisher)
  t.equal((await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v) })).statusCode, 201)

  const tooLow = await post(s, '/v1/plugins/acme.shout/promote', { tier: 'verified', key: pubKey })
  t.equal(tooLow.statusCode, 403)
  t.match(tooLow.json().error, { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: /only granted up to tier community/ })
  const down = await post(s, '/v1/plugins/acme.shout/promote', { tier: 'alpha', key: seniorKey })
  t.equal(down.statusCode, 400)
  t.match(down.json().error.message, /promotion must go to a higher tier/)
  t.match((await list(t, s)).plugins, [{ tier: 'alpha', serial: 1, digest: v.digest }], 'refused promotions leave the installed plugin as it was')

  const promoted = await post(s, '/v1/plugins/acme.shout/promote', { tier: 'verified', key: seniorKey })
  t.equal(promoted.statusCode, 200, promoted.body)
  t.match(promoted.json(), { from: 'alpha', plugin: { id: 'acme.shout', tier: 'verified', serial: 2, additive: false, signer: 'senior' }, published: { name: 'acme.shout@1.0.0', serial: 2 }, highWater: { type: 'newer', serial: 2 }, reload: { type: 'reloaded' } })
  t.match((await list(t, s)).plugins, [{ tier: 'verified', serial: 2, verified: true, additive: false, state: 'verified' }])
  const entries = await (await openPluginRegistry(s.fabric.js)).list()
  t.match(entries, [{ name: 'acme.shout@1.0.0', serial: 2, tier: 'verified' }], 'the promoted bundle is in the registry for the other nodes')
  t.same(await readdir(s.plugins), ['acme.shout'])
})

t.test('scopes, unknown ids and bad bodies', async (t) => {
  const s = await setup(t)
  const anonymous = await s.app.inject({ method: 'GET', url: '/v1/plugins' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().error.code, 'OMNI_ERR_UNAUTHORIZED')
  const ingestOnly = await s.app.inject({ method: 'GET', url: '/v1/plugins', headers: bearer('ingest') })
  t.equal(ingestOnly.statusCode, 403)
  for (const url of ['/v1/plugins/install', '/v1/plugins/acme.shout/approve', '/v1/plugins/acme.shout/revoke', '/v1/plugins/acme.shout/promote']) {
    const r = await post(s, url, { id: 'acme.shout', version: '1.0.0' }, 'read')
    t.equal(r.statusCode, 403, `${url} needs admin`)
    t.equal(r.json().error.code, 'OMNI_ERR_FORBIDDEN')
    t.equal((await s.app.inject({ method: 'POST', url, payload: {} })).statusCode, 401, `${url} without a token`)
  }

  const absent = await post(s, '/v1/plugins/acme.absent/approve', {})
  t.equal(absent.statusCode, 404)
  t.match(absent.json().error, { code: 'OMNI_ERR_NOT_FOUND', message: /acme\.absent is not installed/ })
  t.equal((await post(s, '/v1/plugins/acme.absent/promote', { tier: 'verified', key: 'nonexistent.key' })).statusCode, 404)
  t.equal((await post(s, '/v1/plugins/acme.absent/revoke', { rootKey: 'nonexistent.key' })).statusCode, 404)
  t.equal((await post(s, '/v1/plugins/acme.absent/revoke', { rootKey: 'nonexistent.key', versions: ['1.0.0'] })).statusCode, 404, 'nor published')

  const problems = async (url: string, payload: unknown) => {
    const r = await post(s, url, payload)
    t.equal(r.statusCode, 400, r.body)
    t.equal(r.json().error.code, 'OMNI_ERR_BODY_INVALID')
    return (r.json().error.problems as { where: string }[]).map((p) => p.where)
  }
  t.same((await problems('/v1/plugins/install', { id: 'Not An Id', version: 'one' })).sort(), ['$.id', '$.version'])
  t.same(await problems('/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', extra: true }), ['$.extra'], 'unknown fields are refused, not stripped')
  t.ok((await problems('/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: { format: BUNDLE_FORMAT, envelope: 'not base64!', files: [] } })).includes('$.bundle.envelope'))
  t.same(await problems('/v1/plugins/acme.shout/approve', { by: 'alice' }), ['$.by'], 'the caller cannot name the approver: the token is the approver')
  for (const name of ['../root.key', 'keys/root.key', '/etc/ssh/ssh_host_ed25519_key', '.root.key', '..', '']) {
    t.same(await problems('/v1/plugins/acme.shout/revoke', { rootKey: name }), ['$.rootKey'], `a key is a plain file name, not ${JSON.stringify(name)}`)
    t.same(await problems('/v1/plugins/acme.shout/promote', { tier: 'verified', key: name }), ['$.key'])
  }
  t.same(await problems('/v1/plugins/acme.shout/revoke', { rootKey: 'k', expiresAt: '2020-01-01T00:00:00Z' }), ['$.expiresAt'], 'the new list must expire in the future')
  t.ok((await problems('/v1/plugins/acme.shout/promote', { tier: 'gold', key: 'k' })).includes('$.tier'))
  const badId = await post(s, '/v1/plugins/..%2Fetc/approve', {})
  t.equal(badId.statusCode, 400)
  t.match(badId.json().error.problems, [{ where: 'params.id' }])
})

t.test('a fabric without plugins lists none and refuses changes as unavailable', async (t) => {
  const { app } = await startTestApi(t)
  const r = await app.inject({ method: 'GET', url: '/v1/plugins', headers: bearer('read') })
  t.same(r.json(), { enabled: false, plugins: [] })
  const install = await app.inject({ method: 'POST', url: '/v1/plugins/install', headers: bearer('admin'), payload: { id: 'acme.shout', version: '1.0.0' } })
  t.equal(install.statusCode, 503)
  t.equal(install.json().error.code, 'OMNI_ERR_UNAVAILABLE')
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { tags: string[]; requestBody?: unknown }>> }
  for (const path of ['/v1/plugins', '/v1/plugins/install', '/v1/plugins/{id}/approve', '/v1/plugins/{id}/revoke', '/v1/plugins/{id}/promote']) {
    const op = Object.values(doc.paths[path] ?? {})[0]
    t.same(op?.tags, ['plugins'], `${path} is documented in OpenAPI`)
  }
  t.ok(doc.paths['/v1/plugins/install']?.post?.requestBody, 'with its body schema')
})

t.test('a revoke stops the running plugin at once: later events fail at its stage naming the revocation, none is lost or doubled, and the answer names the pipelines', async (t) => {
  const s = await setup(t)
  const verifiedKey = await s.trust.publisher('verified', { name: 'trusted' })
  const v = await signed(t, s, verifiedKey, { id: 'acme.shout', tier: 'verified', emit: [] })
  t.equal((await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v) })).statusCode, 201)
  await writeFile(join(s.dir, 'pipelines', 'shouter.yaml'), `${SHOUTER}errorPolicy: { maxDeliveries: 2, backoff: [50ms] }\noutputs:\n  - subject: omni.evt.test.shouted.v1\n`)
  t.match((await post(s, '/v1/plugins/acme.shout/approve', { digest: v.digest })).json(), { reload: { type: 'reloaded', added: ['shouter'] } })

  const sent = new Map<string, Buffer>()
  const send = async (id: string) => {
    const bytes = Buffer.from(JSON.stringify({ specversion: '1.0', id, source: 'test', type: 'note.created', time: '2026-11-22T00:00:00Z', data: { noteId: id, text: `hi ${id}` }, tenant: 't1', visibility: 'local', idempotencykey: `k-${id}` }))
    sent.set(id, bytes)
    await s.fabric.publisher.publish('omni.evt.test.note-created.v1', bytes, { msgID: `k-${id}` })
  }
  await send('before')
  t.ok(await eventually(async () => (await readSubject(s.fabric, 'omni.evt.test.shouted.v1')).length === 1), 'the plugin runs before the revoke')

  // events in flight while the revoke lands
  const during = Array.from({ length: 40 }, (_, i) => `during-${i}`)
  const publishing = Promise.all(during.map(send))
  const revoked = await post(s, '/v1/plugins/acme.shout/revoke', { rootKey: 'root.key', reason: 'leaks tokens' })
  await publishing
  t.equal(revoked.statusCode, 200, revoked.body)
  const answer = revoked.json()
  t.same(answer.affected, [{ pipeline: 'shouter', stage: 'shout', plugin: 'acme.shout', additive: false }], 'the answer names the pipeline and stage it stopped')
  t.equal(answer.reload.type, 'rejected', 'the pipeline no longer compiles: it keeps running, with the stage stopped')
  t.match((await list(t, s)).plugins, [{ id: 'acme.shout', state: 'stopped', reason: /yanked/ }])

  const after = Array.from({ length: 5 }, (_, i) => `after-${i}`)
  for (const id of after) await send(id)
  const total = 1 + during.length + after.length
  // an event delivered again while its slow attempt runs settles twice: count events, not settlements
  const finals = () => new Set(s.settled.flatMap((e) => (e.pipeline === 'shouter' && e.type !== 'retry' ? [e.seq] : []))).size
  t.ok(await eventually(() => finals() >= total, 20_000), 'every event settled')

  const outputs = (await readSubject(s.fabric, 'omni.evt.test.shouted.v1')).map((e) => e['id'] as string)
  const letters = await s.fabric.node.deadLetters.list({ pipeline: 'shouter' })
  const lettered = letters.map((l) => JSON.parse(Buffer.from(l.data).toString('utf8')).id as string)
  t.same(outputs.filter((id) => id.startsWith('after-')), [], 'no event published after the revoke answered ran through the plugin')
  t.same([...outputs, ...lettered].sort(), [...sent.keys()].sort(), 'each event is an output or a dead letter: none lost')
  t.equal(new Set([...outputs, ...lettered]).size, outputs.length + lettered.length, 'none doubled')
  for (const l of letters) {
    const id = JSON.parse(Buffer.from(l.data).toString('utf8')).id as string
    t.same(Buffer.from(l.data), sent.get(id), `the dead letter of ${id} holds the original bytes`)
    t.match(l, { stage: 'shout', error: /OMNI_ERR_PLUGIN_REVOKED|yanked/ })
  }
  t.ok(lettered.includes('after-0'), 'an event published after the revoke is dead-lettered')
  t.match(s.settled.find((e) => e.type === 'dead-lettered'), { stage: 'shout', error: /OMNI_ERR_PLUGIN_REVOKED: plugin acme\.shout@1\.0\.0 was stopped.*yanked.*leaks tokens/ })
})

t.test('a yanked version still running while a newer, unapproved one waits on disk is stopped too', async (t) => {
  const s = await setup(t)
  const verifiedKey = await s.trust.publisher('verified', { name: 'trusted' })
  const v1 = await signed(t, s, verifiedKey, { id: 'acme.shout', tier: 'verified', emit: [] })
  t.equal((await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.0.0', bundle: bundleOf(v1) })).statusCode, 201)
  await writeFile(join(s.dir, 'pipelines', 'shouter.yaml'), `${SHOUTER}errorPolicy: { maxDeliveries: 2, backoff: [50ms] }\noutputs:\n  - subject: omni.evt.test.shouted.v1\n`)
  t.match((await post(s, '/v1/plugins/acme.shout/approve', { digest: v1.digest })).json(), { reload: { type: 'reloaded', added: ['shouter'] } })

  // 1.1.0 asks for more memory: installed, but the pipeline keeps running 1.0.0 until it is approved
  const v2 = await signed(t, s, verifiedKey, { id: 'acme.shout', version: '1.1.0', serial: 2, tier: 'verified', emit: [], memoryMb: 128 })
  const installed = await post(s, '/v1/plugins/install', { id: 'acme.shout', version: '1.1.0', bundle: bundleOf(v2) })
  t.match(installed.json(), { approval: { state: 'widened' }, reload: { type: 'rejected' } })
  const send = (id: string) =>
    s.fabric.publisher.publish('omni.evt.test.note-created.v1', Buffer.from(JSON.stringify({ specversion: '1.0', id, source: 'test', type: 'note.created', time: '2026-11-22T00:00:00Z', data: { noteId: id, text: 'x' }, tenant: 't1', visibility: 'local', idempotencykey: `k-${id}` })), { msgID: `k-${id}` })
  await send('old-runs')
  t.ok(await eventually(async () => (await readSubject(s.fabric, 'omni.evt.test.shouted.v1')).length === 1), '1.0.0 still serves')

  const revoked = await post(s, '/v1/plugins/acme.shout/revoke', { rootKey: 'root.key', versions: ['1.0.0'], reason: 'leaks tokens' })
  t.equal(revoked.statusCode, 200, revoked.body)
  t.same(revoked.json().affected, [{ pipeline: 'shouter', stage: 'shout', plugin: 'acme.shout', additive: false }])
  t.match((await list(t, s)).plugins, [{ id: 'acme.shout', version: '1.1.0', state: 'stopped', reason: /acme\.shout@1\.0\.0 was stopped .*yanked/ }])
  await send('after-yank')
  t.ok(await eventually(() => s.settled.some((e) => e.type === 'dead-lettered'), 20_000), 'the event fails at the stopped stage')
  t.match(s.settled.find((e) => e.type === 'dead-lettered'), { stage: 'shout', error: /OMNI_ERR_PLUGIN_REVOKED: plugin acme\.shout@1\.0\.0 was stopped.*yanked.*leaks tokens/ })
  t.equal((await readSubject(s.fabric, 'omni.evt.test.shouted.v1')).length, 1, 'the yanked code did not run again')
})
