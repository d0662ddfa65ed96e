import { spawnSync } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { importGraph, layerProblems, main } from '../scripts/check-layers.ts'
import { LAYERS, TEMPORARY_ALLOWED_IMPORTS } from '../src/layers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCRIPT = path.join(ROOT, 'scripts/check-layers.ts')
/** A layer's number as the check prints it (1 = lowest), so adding a layer changes no expectation. */
const n = (layer: (typeof LAYERS)[number]): number => LAYERS.indexOf(layer) + 1

/** A tree of source files under a fresh temporary root. */
function tree(t: Test, files: Record<string, string>): string {
  const root = t.testdir()
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true })
    writeFileSync(path.join(root, file), text)
  }
  return root
}

t.test('the real tree follows the order, with only the temporary allow-list', async (t) => {
  t.same(layerProblems(importGraph(ROOT)), [])
  const run = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /^layers: \d+ files, \d+ imports follow the order/)
})

t.test('the layer order names each folder once, lowest first', async (t) => {
  t.equal(new Set(LAYERS).size, LAYERS.length)
  t.equal(LAYERS[0], 'util')
  t.equal(LAYERS.at(-1), 'api')
  t.ok(LAYERS.indexOf('wire') < LAYERS.indexOf('jetstream'), 'the wire formats sit below everything that sends a message')
})

t.test('every form of import counts: type-only, export-from, dynamic, require', async (t) => {
  const root = tree(t, {
    'src/util/a.ts': "import type { B } from '../api/b.ts'\nexport type A = B\n",
    'src/util/c.ts': "export { d } from '../wire/d.ts'\n",
    'src/errors/e.ts': "export const e = () => import('../envelope/f.ts')\n",
    'src/errors/g.cjs': "const h = require('../wire/h.ts')\n",
    'src/errors/i.ts': "export const i: typeof import('../yaml/j.ts') | undefined = undefined\n",
    'src/api/b.ts': "import { a } from '../util/a.ts'\nimport { Type } from 'typebox'\nexport interface B { a: typeof a }\n",
    'src/wire/d.ts': 'export const d = 1\n',
    'src/envelope/f.ts': 'export const f = 1\n',
    'src/wire/h.ts': 'export const h = 1\n',
    'src/yaml/j.ts': 'export const j = 1\n',
  })
  const graph = importGraph(root)
  t.same(graph.imports.filter((i) => i.from === 'src/api/b.ts'), [{ from: 'src/api/b.ts', to: 'src/util/a.ts' }], 'packages are left out')
  t.same(layerProblems(graph, LAYERS, []), [
    `src/errors/e.ts imports src/envelope/f.ts: errors (layer ${n('errors')}) may not import envelope (layer ${n('envelope')})`,
    `src/errors/g.cjs imports src/wire/h.ts: errors (layer ${n('errors')}) may not import wire (layer ${n('wire')})`,
    `src/errors/i.ts imports src/yaml/j.ts: errors (layer ${n('errors')}) may not import yaml (layer ${n('yaml')})`,
    `src/util/a.ts imports src/api/b.ts: util (layer ${n('util')}) may not import api (layer ${n('api')})`,
    `src/util/c.ts imports src/wire/d.ts: util (layer ${n('util')}) may not import wire (layer ${n('wire')})`,
  ])
})

t.test('folders in no layer, files at the top of src/ and imports out of src/ are reported', async (t) => {
  const graph = {
    files: ['src/extra/x.ts', 'src/extra/y.ts', 'src/top.ts', 'src/api/a.ts'],
    imports: [
      { from: 'src/extra/x.ts', to: 'src/api/a.ts' },
      { from: 'src/api/a.ts', to: 'src/top.ts' },
      { from: 'src/api/a.ts', to: 'cmd/omni.ts' },
      { from: 'src/api/a.ts', to: 'cmd/omni.ts' },
    ],
  }
  t.same(layerProblems(graph, LAYERS, []), [
    'src/extra is in no layer: add "extra" to LAYERS in src/layers.ts',
    'src/api/a.ts imports src/top.ts: files at the top of src/ are in no layer, so neither imports nor is imported',
    'src/api/a.ts imports cmd/omni.ts: src may not import anything outside it',
  ])
})

t.test('an allowed import passes, and an allowed import that is gone fails', async (t) => {
  const allowed = [{ from: 'src/pipeline/w.ts', to: 'src/clickhouse/r.ts', why: 'test' }]
  const upward = { files: ['src/pipeline/w.ts', 'src/clickhouse/r.ts'], imports: [{ from: 'src/pipeline/w.ts', to: 'src/clickhouse/r.ts' }] }
  t.same(layerProblems(upward, LAYERS, allowed), [])
  t.same(layerProblems({ files: upward.files, imports: [] }, LAYERS, allowed), [
    'src/pipeline/w.ts no longer imports src/clickhouse/r.ts against the order: remove it from TEMPORARY_ALLOWED_IMPORTS in src/layers.ts',
  ])
  t.ok(TEMPORARY_ALLOWED_IMPORTS.every((x) => x.why !== ''), 'each temporary exception says why')
})

t.test('the script exits 1 and names the upward import', async (t) => {
  const root = tree(t, { 'src/util/a.ts': "import { b } from '../api/b.ts'\n", 'src/api/b.ts': 'export const b = 1\n' })
  const run = spawnSync(process.execPath, [SCRIPT, root], { encoding: 'utf8' })
  t.equal(run.status, 1)
  t.match(run.stderr, `src/util/a.ts imports src/api/b.ts: util (layer ${n('util')}) may not import api (layer ${n('api')})`)
  // in process too, for the summary line
  const errors: string[] = []
  t.capture(console, 'error', (...args: unknown[]) => errors.push(args.join(' ')))
  t.equal(main(root), 1)
  t.match(errors.at(-1), /^layers: \d+ problem\(s\)/)
})

t.test('what the scanner cannot follow is refused: computed specifiers, absolute paths, symbolic links', async (t) => {
  const root = tree(t, {
    'src/util/computed.ts': "const dir = '../api'\nexport const m = () => import(`${dir}/b.ts`)\n",
    'src/util/joined.ts': "export const m = () => import('../' + 'api/b.ts')\n",
    'src/util/resolved.ts': "export const u = import.meta.resolve('../api/b.ts')\n",
    'src/util/absolute.ts': "export { b } from '/work/src/api/b.ts'\n",
    'src/util/url.ts': "import 'file:///work/src/api/b.ts'\n",
    'src/util/literal.ts': "export const m = () => import('./fine.ts')\n",
    'src/util/fine.ts': 'export const fine = 1\n',
    'src/api/b.ts': 'export const b = 1\n',
  })
  symlinkSync(path.join(root, 'src/api/b.ts'), path.join(root, 'src/util/linked.ts'))
  const problems = layerProblems(importGraph(root), LAYERS, [])
  t.same(problems.filter((p) => /computed at run time/.test(p)).map((p) => p.split(' ')[0]).sort(), ['src/util/computed.ts', 'src/util/joined.ts', 'src/util/resolved.ts'])
  t.same(problems.filter((p) => /by a relative path/.test(p)).map((p) => p.split(' ')[0]).sort(), ['src/util/absolute.ts', 'src/util/url.ts'])
  t.ok(problems.some((p) => p.startsWith('src/util/linked.ts is a symbolic link')), 'a linked file is refused')
  t.notOk(problems.some((p) => p.startsWith('src/util/literal.ts')), 'a literal dynamic import is followed, not refused')
})
