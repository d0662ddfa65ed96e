import t from 'tap'
import { describeTarget, resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { isOmniError } from '../../src/errors/mod.ts'

t.test('with nothing set: the embedded engine under ./data, database omni, 90 and 30 days', async (t) => {
  const c = resolveClickHouseConfig({})
  t.same(c.target, { type: 'embedded', path: 'data/clickhouse' })
  t.equal(c.database, 'omni')
  t.equal(c.eventsRetentionDays, 90)
  t.equal(c.rawRetentionDays, 30)
  t.ok(Object.isFrozen(c), 'the resolved config is frozen')
})

t.test('earlier layers win; later ones fill what earlier ones leave out', async (t) => {
  const later = { url: 'http://127.0.0.1:8123', username: 'u', password: 'p', rawRetentionDays: '7', database: 'later' }
  const c = resolveClickHouseConfig({ database: 'flag', eventsRetentionDays: '14' }, later)
  t.same(c.target, { type: 'server', url: 'http://127.0.0.1:8123', username: 'u', password: 'p' })
  t.equal(c.database, 'flag')
  t.equal(c.eventsRetentionDays, 14)
  t.equal(c.rawRetentionDays, 7)
})

t.test('every bad value is reported at once, with its path', async (t) => {
  try {
    resolveClickHouseConfig({ url: 'ftp://x', database: 'x; DROP TABLE y', eventsRetentionDays: '0', rawRetentionDays: 'soon' })
    t.fail('should throw')
  } catch (err) {
    t.ok(isOmniError(err) && err.code === 'OMNI_ERR_CONFIG')
    const where = isOmniError(err) ? err.problems.map((p) => p.where).sort() : []
    t.same(where, ['clickhouse.database', 'clickhouse.eventsRetentionDays', 'clickhouse.rawRetentionDays', 'clickhouse.url'])
  }
  t.throws(() => resolveClickHouseConfig({ url: 'not a url' }), { code: 'OMNI_ERR_CONFIG' })
})

t.test('the description never shows a password', async (t) => {
  const d = describeTarget({ type: 'server', url: 'http://admin:hunter2@127.0.0.1:8123/', username: 'admin', password: 'hunter2' })
  t.notMatch(d, /hunter2/)
  t.match(d, /127\.0\.0\.1:8123/)
})
