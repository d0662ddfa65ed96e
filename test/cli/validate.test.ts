import t from 'tap'
import { omni } from '../fixtures/cli.ts'
import { TEST_CATALOG, writeManifests } from '../fixtures/manifests.ts'

t.test('the shipped manifests are valid', async (t) => {
  const r = await omni(['validate', 'manifests'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^ok: 7 file\(s\), 26 event type\(s\), 1 pipeline\(s\), 8 stage\(s\), 1 webhook source\(s\)/)
})

t.test('every problem is printed with file:line:col and the exit code is 1', async (t) => {
  const dir = await writeManifests(t, {
    'catalog.yaml': TEST_CATALOG,
    'pipelines/cycle.yaml': `kind: Pipeline
name: cyc
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: a, uses: guard.self_route, needs: [b] }
  - { id: b, uses: guard.self_route, needs: [a] }
  - { id: c, uses: guard.nope }
`,
    'pipelines/broken.yaml': 'kind: Pipeline\nname: [unclosed\n',
    'other.yaml': 'kind: Deployment\n',
  })
  const r = await omni(['validate', dir])
  t.equal(r.code, 1)
  t.match(r.stderr, /other\.yaml:1:7: kind: unknown kind "Deployment"; expected one of EventCatalog, Mesh, Pipeline, Plugin/)
  t.match(r.stderr, /broken\.yaml:3:1: Flow sequence .* must .* end with a \]/)
  t.match(r.stderr, /cycle\.yaml:7:20: stages\[2\]\.uses: unknown cartridge "guard\.nope"/)
  t.match(r.stderr, /cycle\.yaml:\d+:\d+: stages\[\d\]\.needs: cycle between stages: (a → b → a|b → a → b)/)
  t.match(r.stderr, /\n4 problem\(s\) in 4 file\(s\)\n$/)
})

t.test('--json prints the problems for tools', async (t) => {
  const dir = await writeManifests(t, { 'p.yaml': 'kind: Pipeline\nname: x\nsources: [omni.evt.a.b.v1]\nstages: [{ id: a, uses: transform.enrich, when: "data.x ==" }]\n' })
  const r = await omni(['validate', '--json', dir])
  t.equal(r.code, 1)
  const out = JSON.parse(r.stdout) as { ok: boolean; problems: { where: string; message: string }[] }
  t.equal(out.ok, false)
  t.match(out.problems, [{ where: /p\.yaml:4:\d+$/, message: /stages\[0\]\.when: invalid CEL expression/ }])
})

t.test('a missing path is a clear error', async (t) => {
  const r = await omni(['validate', '/nonexistent/omni'])
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_MANIFEST: cannot read \/nonexistent\/omni/)
})

t.test('catalog --json lists every cartridge with its schema', async (t) => {
  const r = await omni(['catalog', '--json'])
  t.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout) as { cartridges: { id: string; description: string; configSchema: { type: string } }[]; eventTypes: { type: string }[] }
  const ids = out.cartridges.map((c) => c.id)
  for (const id of ['guard.trust', 'guard.dedup', 'transform.enrich', 'meta.correlate', 'transform.classify', 'transform.redact', 'transform.truncate', 'guard.self_route', 'guard.allowlist', 'guard.denylist', 'guard.rate_limit']) {
    t.ok(ids.includes(id), id)
  }
  t.ok(ids.indexOf('guard.trust') < ids.indexOf('guard.dedup') && ids.indexOf('guard.dedup') < ids.indexOf('transform.enrich'), 'seed 003 order: trust → dedup → enrich')
  t.ok(out.cartridges.every((c) => c.description.length > 20 && c.configSchema.type === 'object'))
  const types = (out.eventTypes as { type: string }[]).map((e) => e.type)
  for (const type of ['message.received', 'message.deleted', 'message.reaction', 'cartridge.published']) t.ok(types.includes(type), `lists ${type}`)
})

t.test('--help tells the commands', async (t) => {
  const r = await omni(['--help'])
  t.equal(r.code, 0)
  for (const cmd of ['up', 'validate', 'publish', 'tail', 'dlq', 'catalog', 'bench']) t.match(r.stdout, new RegExp(`\\n  ${cmd}\\b`))
})
