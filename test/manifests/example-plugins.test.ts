import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { envelopeProblems } from '../../src/envelope/validate.ts'
import { loadTrustStore, pluginCode, readSigningKey, signPlugin, verifyPlugin, type TrustStore, type VerifiedPlugin } from '../../src/plugins/mod.ts'
import { createInprocessRuntime } from '../../src/sandbox/inprocess.ts'
import { createIsolateRuntime } from '../../src/sandbox/isolate/runtime.ts'
import type { PluginInput, PluginOutput, SandboxRuntime } from '../../src/sandbox/types.ts'
import { testDocker, testRuntime } from '../fixtures/docker.ts'
import { tempDir } from '../fixtures/plugins.ts'
import { testEvent } from '../fixtures/sandbox-plugins.ts'

// The example plugins in manifests/plugins verify against the TEST trust store shipped beside
// them, and their stage functions do what their manifests say, run in the runtime they name.
t.setTimeout(120_000)

const PLUGINS = fileURLToPath(new URL('../../manifests/plugins/', import.meta.url))
const TRUST = join(PLUGINS, 'test-trust')
const PUBLISHER_KEY = join(PLUGINS, 'test-keys', 'test-publisher.key')

const input = (data: Record<string, unknown>, extra: Record<string, unknown> = {}): PluginInput => ({
  event: { ...testEvent(1, data), ...extra },
  labels: {},
  attempt: 1,
})

/** Loads `v` into `runtime`, runs `inputs` as one batch, and closes the runtime. */
async function run(runtime: SandboxRuntime, v: VerifiedPlugin, inputs: PluginInput[]): Promise<PluginOutput[]> {
  try {
    const instance = await runtime.load(pluginCode(v))
    return await instance.run(inputs)
  } finally {
    await runtime.close()
  }
}

const trust: TrustStore = await loadTrustStore(TRUST)

t.test('the test trust store: one root, the publisher granted up to verified, a list valid until 2036', async (t) => {
  t.same(trust.roots.map((r) => r.name), ['test-root'])
  t.same(trust.publishers.map((p) => [p.name, p.maxTier]), [['test-publisher', 'verified']])
  t.match(trust.revocations, { revokedKeys: [], yanked: [], expiresAt: /^2036-/ })
  const readme = await readFile(join(PLUGINS, 'test-keys', 'README.md'), 'utf8')
  t.match(readme, /TEST KEYS: PUBLIC IN THIS REPOSITORY, NEVER TO BE TRUSTED IN PRODUCTION/)
})

t.test('examples.redact-digits verifies (isolate, verified) and masks runs of 6+ digits', async (t) => {
  const v = await verifyPlugin(join(PLUGINS, 'examples.redact-digits'), trust, { cluster: 'local' })
  t.match(v.manifest, { id: 'examples.redact-digits', runtime: 'isolate', tier: 'verified', expiresAt: /^2036-/, capabilities: { emit: [] } })
  t.equal(v.signer, 'test-publisher')
  const outputs = await run(createIsolateRuntime(), v, [
    input({ text: 'account 12345678, code 123456, order 12345 on 2026-11-22' }),
    input({ text: 'nothing long here: 555 1234' }),
    input({ kind: 'image' }),
  ])
  t.same(outputs, [
    { type: 'continue', data: { text: 'account ••••••••, code ••••••, order 12345 on 2026-11-22' } },
    { type: 'continue' },
    { type: 'continue' },
  ])
})

t.test('examples.sentiment verifies (isolate, alpha) and emits its score on the declared subject', async (t) => {
  const v = await verifyPlugin(join(PLUGINS, 'examples.sentiment'), trust, { cluster: 'local' })
  t.match(v.manifest, { id: 'examples.sentiment', runtime: 'isolate', tier: 'alpha', expiresAt: /^2036-/ })
  t.same(v.manifest.capabilities.emit, ['omni.evt.alpha.sentiment-scored.v1'])
  const outputs = await run(createIsolateRuntime(), v, [
    input({ text: 'Great service, thanks! I love it' }, { instance: 'phone-1', correlationid: 'c-1' }),
    input({ text: 'terrible and slow, the worst' }),
    input({ text: 'see you at noon' }),
  ])
  const emitted = outputs.map((o) => (o.type === 'continue' ? o.emit ?? [] : []))
  t.same(emitted.map((e) => e.map((x) => x.subject)), [['omni.evt.alpha.sentiment-scored.v1'], ['omni.evt.alpha.sentiment-scored.v1'], ['omni.evt.alpha.sentiment-scored.v1']])
  t.same(emitted.map((e) => e[0]?.event.data), [
    { score: 3, label: 'positive', words: 6 },
    { score: -3, label: 'negative', words: 5 },
    { score: 0, label: 'neutral', words: 4 },
  ])
  const first = emitted[0]?.[0]?.event
  t.match(first, { type: 'sentiment.scored', causationid: 'evt-1', correlationid: 'c-1', instance: 'phone-1', idempotencykey: 'evt-1.sentiment', tenant: 'tenant-a' })
  t.same(envelopeProblems(first), [], 'the emitted event is a valid envelope')
  t.notOk(outputs.some((o) => o.type === 'continue' && o.data), 'it changes nothing of the event it reads')
})

t.test('examples.word-count ships unsigned; signed with an image it verifies and counts words', async (t) => {
  const source = join(PLUGINS, 'examples.word-count')
  await t.rejects(verifyPlugin(source, trust, { cluster: 'local' }), { code: 'OMNI_ERR_PLUGIN_SIGNATURE', message: /unsigned plugin/ })
  const docker = process.env['OMNI_TEST_DOCKER_SOCKET'] ? await testDocker(t) : undefined
  const dir = join(await tempDir(t, 'word-count'), 'examples.word-count')
  await cp(source, dir, { recursive: true })
  // without an engine any well-formed digest will do: signing and verifying never pull the image
  const image = docker?.image.ref ?? `omni-plugin-node@sha256:${'0'.repeat(64)}`
  const yaml = await readFile(join(dir, 'plugin.yaml'), 'utf8')
  await writeFile(join(dir, 'plugin.yaml'), `${yaml}image: ${image}\n`)
  await signPlugin(dir, await readSigningKey(PUBLISHER_KEY), { trust })
  const v = await verifyPlugin(dir, trust, { cluster: 'local' })
  t.match(v.manifest, { id: 'examples.word-count', runtime: 'container', tier: 'community', image })
  const inputs = [input({ text: '  the quick\tbrown fox\n jumps ' }), input({ text: '' }), input({ kind: 'image' })]
  const expected = [0, 1, 2].map((i) => ({ type: 'continue', data: { wordCount: [5, 0, 0][i] } }))
  // the code contract is the same in every runtime: its logic runs in process here,
  t.same(await run(createInprocessRuntime(), v, inputs), expected)
  // and in its real container when the tests have a Docker engine
  if (docker) t.same(await run(await testRuntime(t, docker), v, inputs), expected, 'in the container')
  else t.comment('word-count not run in a container: OMNI_TEST_DOCKER_SOCKET is not set')
})
