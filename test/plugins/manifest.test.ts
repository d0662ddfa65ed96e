import t from 'tap'
import {
  bundlePathProblem,
  emitPatternProblem,
  imageProblem,
  isAdditiveTier,
  parsePluginManifest,
  sandboxLimits,
  tierAllows,
  tierRank,
  TIERS,
} from '../../src/plugins/mod.ts'

const sha = 'a'.repeat(64)
const base = `kind: Plugin
id: acme.shout
version: 1.0.0-rc.1+build.5
serial: 3
runtime: isolate
tier: community
entry:
  main: stage.js
  files:
    - { path: stage.js, size: 10, sha256: ${sha} }
capabilities:
  emit: [omni.evt.acme.shouted.v1, omni.evt.acme.*.v1]
  memoryMb: 64
  timeoutMs: 1000
  cpus: 1
audience: { clusters: ['*'], tenants: [t1] }
issuedAt: 2026-11-22T00:00:00Z
expiresAt: 2027-11-22T00:00:00Z
`
const parse = (text: string) => parsePluginManifest(Buffer.from(text), 'p.yaml')

t.test('a valid manifest parses, frozen, with defaults', async (t) => {
  const m = parse(base)
  t.equal(m.version, '1.0.0-rc.1+build.5')
  t.same(m.capabilities, { emit: ['omni.evt.acme.shouted.v1', 'omni.evt.acme.*.v1'], memoryMb: 64, timeoutMs: 1000, cpus: 1, pids: 32, network: 'none' })
  t.same(sandboxLimits(m.capabilities), { memoryMb: 64, timeoutMs: 1000, cpus: 1, pids: 32 })
  t.ok(Object.isFrozen(m) && Object.isFrozen(m.entry.files[0]))
  t.equal(m.issuedAt, '2026-11-22T00:00:00Z', 'timestamps stay strings')
})

t.test('JSON is YAML: a JSON manifest parses the same', async (t) => {
  const json = JSON.stringify(parse(base))
  t.same(parsePluginManifest(json, 'p.json'), parse(base))
})

t.test('schema problems name file:line:col and the field path', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['id: acme.shout', 'id: Acme', /p\.yaml:2:5: id: must match pattern/],
    ['serial: 3', 'serial: 0', /p\.yaml:4:9: serial: must be >= 1/],
    ['version: 1.0.0-rc.1+build.5', 'version: v1', /version: must match pattern/],
    ['runtime: isolate', 'runtime: wasm', /runtime: must be one of "inprocess", "isolate", "container"/],
    ['tier: community', 'tier: gold', /tier: must be one of "alpha", "community", "private", "verified", "core"/],
    ['memoryMb: 64', 'memoryMb: 4096', /capabilities\.memoryMb: must be <= 2048/],
    ['timeoutMs: 1000', 'timeoutMs: 5', /capabilities\.timeoutMs: must be >= 10/],
    ['cpus: 1', 'cpus: 8', /capabilities\.cpus: must be <= 4/],
    ['cpus: 1', 'network: host', /capabilities\.network: must be "none"/],
    ['cpus: 1', 'cpus: 1\n  gpu: true', /capabilities\.gpu: unknown field/],
    ['kind: Plugin', 'kind: Pipeline', /kind: must be "Plugin"/],
    [`sha256: ${sha}`, 'sha256: abc', /entry\.files\[0\]\.sha256: must match pattern/],
    ['issuedAt: 2026-11-22T00:00:00Z', 'issuedAt: yesterday', /issuedAt: must match pattern/],
  ]
  for (const [from, to, message] of cases) t.throws(() => parse(base.replace(from, to)), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message }, to)
  const err = (() => {
    try {
      parse(base.replace('serial: 3', 'serial: 0').replace('tier: community', 'tier: gold'))
    } catch (e) {
      return e as { message: string; problems: unknown[] }
    }
  })()
  t.match(err?.message, /\(and 1 more\)$/)
  t.equal(err?.problems.length, 2, 'every problem is reported')
})

t.test('rules across fields', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['main: stage.js', 'main: other.js', /p\.yaml:8:9: entry\.main: "other\.js" is not one of entry\.files\[\]\.path \(stage\.js\)/],
    ['runtime: isolate', 'runtime: inprocess', /runtime: inprocess runs without a sandbox and is only allowed for tiers core and verified, not community/],
    ['runtime: isolate', 'runtime: container', /image: is required for runtime container/],
    ['runtime: isolate', `runtime: isolate\nimage: x@sha256:${sha}`, /image: is only allowed for runtime container, not isolate/],
    ['omni.evt.acme.*.v1', 'nats.>', /capabilities\.emit\[1\]: "nats\.>" is outside omni\.\*/],
    ['omni.evt.acme.*.v1', 'omni.>.x', /">" before its last token/],
    ['expiresAt: 2027-11-22T00:00:00Z', 'expiresAt: 2026-11-21T00:00:00Z', /expiresAt: 2026-11-21T00:00:00Z is not after issuedAt/],
    ['expiresAt: 2027-11-22T00:00:00Z', 'expiresAt: 2027-13-45T00:00:00Z', /expiresAt: "2027-13-45T00:00:00Z" is not a real date/],
    [`- { path: stage.js, size: 10, sha256: ${sha} }`, `- { path: stage.js, size: 10, sha256: ${sha} }\n    - { path: stage.js, size: 1, sha256: ${sha} }`, /entry\.files\[1\]\.path: "stage\.js" is listed twice/],
    ['path: stage.js', 'path: /etc/passwd', /entry\.files\[0\]\.path: "\/etc\/passwd" is absolute/],
  ]
  for (const [from, to, message] of cases) t.throws(() => parse(base.replace(from, to)), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message }, to)
  t.ok(parse(base.replace('runtime: isolate', 'runtime: inprocess').replace('tier: community', 'tier: verified')))
})

t.test('YAML problems: syntax, duplicate keys, bad UTF-8', async (t) => {
  t.throws(() => parse(base.replace('serial: 3', 'serial: 3\nserial: 4')), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /p\.yaml:5:1: Map keys must be unique/ })
  t.throws(() => parse('a: [1\n'), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /p\.yaml is invalid: p\.yaml:\d+:\d+/ })
  t.throws(() => parsePluginManifest(Buffer.from([0x6b, 0xff]), 'p.yaml'), { code: 'OMNI_ERR_PLUGIN_MANIFEST', message: /not valid UTF-8/ })
})

t.test('bundle paths', async (t) => {
  t.equal(bundlePathProblem('lib/a.js'), undefined)
  t.match(bundlePathProblem(''), /is empty/)
  t.match(bundlePathProblem('../a.js'), /contains "\.\."/)
  t.match(bundlePathProblem('lib/../../a.js'), /contains "\.\."/)
  t.match(bundlePathProblem('/abs.js'), /is absolute/)
  t.match(bundlePathProblem('C:x.js'), /is absolute/)
  t.match(bundlePathProblem('lib\\a.js'), /backslash/)
  t.match(bundlePathProblem('lib//a.js'), /empty segment/)
  t.match(bundlePathProblem('lib/'), /empty segment/)
  t.match(bundlePathProblem('./a.js'), /"\." segment/)
  t.match(bundlePathProblem('a\nb'), /control character/)
  t.match(bundlePathProblem('plugin.dsse.json'), /reserved/)
  t.match(bundlePathProblem('x'.repeat(256)), /longer than 255/)
})

t.test('images must be pinned by digest', async (t) => {
  const d = `sha256:${'0'.repeat(64)}`
  t.equal(imageProblem(`omni-plugin-node@${d}`), undefined)
  t.equal(imageProblem(`ghcr.io/acme/omni-plugin-node@${d}`), undefined)
  t.match(imageProblem('omni-plugin-node:latest'), /names a tag, not a digest/)
  t.match(imageProblem('omni-plugin-node'), /has no digest/)
  t.match(imageProblem(`omni-plugin-node:1@${d}`), /both a tag and a digest/)
  t.match(imageProblem('omni-plugin-node@sha256:abc'), /invalid digest/)
  t.match(imageProblem(`Omni@${d}`), /invalid image name/)
})

t.test('emit patterns', async (t) => {
  t.equal(emitPatternProblem('omni.evt.*.>'), undefined)
  t.match(emitPatternProblem('omni.evt..x'), /invalid token ""/)
  t.match(emitPatternProblem('other.x'), /outside omni/)
})

t.test('tiers', async (t) => {
  t.same(TIERS, ['alpha', 'community', 'private', 'verified', 'core'])
  t.ok(tierRank('alpha') < tierRank('community') && tierRank('private') < tierRank('verified') && tierRank('verified') < tierRank('core'))
  t.same(TIERS.filter(isAdditiveTier), ['alpha', 'community'])
  t.ok(tierAllows('verified', 'private'))
  t.notOk(tierAllows('private', 'verified'))
})
