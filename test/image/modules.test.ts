import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { productionPackages } from '../../src/image/modules.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A folder with a package-lock.json of `packages` and a folder for each of `installed`. */
async function project(t: Test, packages: Record<string, object>, installed: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-modules-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages }))
  for (const p of installed) await mkdir(join(dir, p), { recursive: true })
  return dir
}

t.test('the closure of the dependencies, resolved nearest first, without dev-only packages', async (t) => {
  const dir = await project(
    t,
    {
      '': { dependencies: { a: '1', c: '1' }, optionalDependencies: { gone: '1' }, devDependencies: { tool: '1' } },
      'node_modules/a': { dependencies: { e: '2', shared: '1' } },
      'node_modules/a/node_modules/e': {},
      'node_modules/e': {},
      'node_modules/shared': {},
      'node_modules/c': { dependencies: { only_c: '1', shared: '1' } },
      'node_modules/only_c': {},
      'node_modules/gone': { optional: true },
      'node_modules/tool': { dev: true },
    },
    ['node_modules/a', 'node_modules/a/node_modules/e', 'node_modules/e', 'node_modules/shared', 'node_modules/c', 'node_modules/only_c', 'node_modules/tool'],
  )
  t.same(await productionPackages(dir), ['node_modules/a', 'node_modules/a/node_modules/e', 'node_modules/c', 'node_modules/only_c', 'node_modules/shared'], 'a\'s own e, not the top-level one; the absent optional package is left out')
  t.same(await productionPackages(dir, ['c']), ['node_modules/a', 'node_modules/a/node_modules/e', 'node_modules/shared'], 'an excluded package takes what only it needs along')
  t.same(await productionPackages(dir, ['c'], ['tool']), ['node_modules/a', 'node_modules/a/node_modules/e', 'node_modules/shared', 'node_modules/tool'], 'an extra package is added')
})

t.test('a required package that is not installed is an error naming who needs it', async (t) => {
  const dir = await project(t, { '': { dependencies: { a: '1' } }, 'node_modules/a': { dependencies: { b: '1' } }, 'node_modules/b': {} }, ['node_modules/a'])
  await t.rejects(productionPackages(dir), /node_modules\/a needs b, which is not installed: run npm ci/)
})

t.test('this repository: slim leaves out chdb and its engine, full has them', async (t) => {
  const slim = await productionPackages(ROOT, ['chdb'])
  const full = await productionPackages(ROOT)
  t.notOk(slim.some((p) => /node_modules\/(chdb|@chdb\/)/.test(p)), 'no chdb in slim')
  t.ok(full.includes('node_modules/chdb') && full.some((p) => p.startsWith('node_modules/@chdb/lib-linux')), 'chdb and its engine in full')
  t.ok(slim.includes('node_modules/fastify') && slim.includes('node_modules/@nats-io/jetstream'), 'the platform\'s own dependencies in both')
  t.notOk(slim.includes('node_modules/tap'), 'no test runner')
})
