import t from 'tap'
import { configProblem } from '../fixtures/cartridge-env.ts'
import { getIn, hasIn, parsePath, setIn } from '../../../src/cartridges/util/path.ts'

t.test('get, has and copy-on-write set', async (t) => {
  const obj = Object.freeze({ a: Object.freeze({ b: 1, n: null }), list: [1], s: 'x' })
  t.equal(getIn(obj, ['a', 'b']), 1)
  t.equal(getIn(obj, ['a', 'zz']), undefined)
  t.equal(getIn(obj, ['s', 'length']), undefined, 'strings are leaves')
  t.equal(getIn(obj, ['list', '0']), undefined, 'arrays are leaves')
  t.ok(hasIn(obj, ['a', 'n']))
  t.notOk(hasIn(obj, ['a', 'b', 'c']))
  t.notOk(hasIn(obj, ['toString']), 'inherited properties do not count')

  const next = setIn(obj, ['a', 'c', 'd'], 2)
  t.same(next, { a: { b: 1, n: null, c: { d: 2 } }, list: [1], s: 'x' })
  t.equal(next['list'], obj.list, 'untouched branches are shared')
  t.same(obj, { a: { b: 1, n: null }, list: [1], s: 'x' }, 'the original is unchanged (and frozen)')
  t.same(setIn(obj, ['s', 'x'], 1)['s'], { x: 1 }, 'a non-object step becomes an object')
  t.throws(() => setIn(obj, [], 1))
})

t.test('parsePath', async (t) => {
  t.same(parsePath('a.b', []), ['a', 'b'])
  t.same(configProblem(() => parsePath('a..b', ['p'])).path, ['p'])
  t.same(configProblem(() => parsePath('prototype', ['p'])).path, ['p'])
})
