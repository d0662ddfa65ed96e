import t from 'tap'
import { ConfigProblem } from '../../../src/pipeline/stage.ts'
import { configDuration } from '../../../src/cartridges/util/duration.ts'
import { parseDuration } from '../../../src/util/duration.ts'

t.test('parseDuration', async (t) => {
  t.equal(parseDuration('500ms'), 500)
  t.equal(parseDuration('30s'), 30_000)
  t.equal(parseDuration('1.5m'), 90_000)
  t.equal(parseDuration('2h'), 7_200_000)
  t.equal(parseDuration(' 5s '), 5000)
  t.equal(parseDuration(250), 250)
  t.equal(parseDuration(0), 0)
  for (const bad of ['', '5', '5 s', '-1s', '1d', 's', '1.s']) t.throws(() => parseDuration(bad), /invalid duration/, JSON.stringify(bad))
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => parseDuration(bad), /invalid duration/, String(bad))
  t.throws(() => parseDuration(undefined as never), /invalid duration/)
})

t.test('configDuration reports the path and refuses zero', async (t) => {
  t.equal(configDuration('1m', ['per']), 60_000)
  const bad = t.throws(() => configDuration('soon', ['window']))
  t.ok(bad instanceof ConfigProblem)
  t.same((bad as ConfigProblem).path, ['window'])
  t.same((t.throws(() => configDuration(0, ['per'])) as ConfigProblem).path, ['per'])
})
