import t from 'tap'
import { boundedMap } from '../../../src/cartridges/util/bounded-map.ts'
import { compileGlobs } from '../../../src/cartridges/util/glob.ts'
import { configProblem } from '../fixtures/cartridge-env.ts'

t.test('globs: exact values and trailing-* prefixes', async (t) => {
  const match = compileGlobs(['alice', 'team-*'], ['values'])
  t.ok(match('alice'))
  t.notOk(match('alice2'))
  t.ok(match('team-'))
  t.ok(match('team-red'))
  t.notOk(match('tea'))
  t.ok(compileGlobs(['*'], [])('anything'))
  t.same(configProblem(() => compileGlobs(['ok', '*bad'], ['values'])).path, ['values', 1])
})

t.test('boundedMap evicts the least recently used key', async (t) => {
  const m = boundedMap<number>(2)
  m.set('a', 1)
  m.set('b', 2)
  t.equal(m.get('a'), 1, 'touches a')
  m.set('c', 3)
  t.equal(m.size, 2)
  t.equal(m.get('b'), undefined, 'b was the least recently used')
  t.equal(m.get('a'), 1)
  m.set('a', 10)
  t.equal(m.get('a'), 10)
  t.equal(m.get('c'), 3)
})
