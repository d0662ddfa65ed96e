import t from 'tap'
import { evaluateKey } from '../../../src/cartridges/util/cel.ts'
import { fakeEnv, sampleEvent } from '../fixtures/cartridge-env.ts'

const vars = { event: sampleEvent(), data: { s: 'x', i: 42, d: 1.5, n: null, o: { a: 1 } }, labels: {} }
const key = (expr: string) => evaluateKey(fakeEnv().cel(expr, []), vars)

t.test('evaluateKey: strings and numbers become keys, anything else is an error', async (t) => {
  t.same(key('data.s'), { type: 'ok', key: 'x' })
  t.same(key('data.i'), { type: 'ok', key: '42' })
  t.same(key('data.d'), { type: 'ok', key: '1.5' })
  t.same(key('7'), { type: 'ok', key: '7' }, 'a CEL int literal')
  t.same(key('data.n'), { type: 'error', message: 'returned null, not a string' })
  t.same(key('data.o'), { type: 'error', message: 'returned object, not a string' })
  t.equal(key('data.missing').type, 'error')
  t.same(evaluateKey(() => { throw 'plain' }, vars), { type: 'error', message: 'plain' })
})
