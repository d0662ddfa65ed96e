import t from 'tap'
import { clickHouseConfigFrom } from '../../../cmd/lib/clickhouse-options.ts'
import { isOmniError } from '../../../src/errors/mod.ts'

t.test('flags win over OMNI_* variables, which fill what the flags leave out', async (t) => {
  const env = { OMNI_CLICKHOUSE_URL: 'http://127.0.0.1:8123', OMNI_CLICKHOUSE_USER: 'u', OMNI_CLICKHOUSE_PASSWORD: 'p', OMNI_RETENTION_RAW_DAYS: '7', OMNI_CLICKHOUSE_DATABASE: 'fromenv' }
  const c = clickHouseConfigFrom({ clickhouseDatabase: 'flag', retentionEvents: '14' }, env)
  t.same(c.target, { type: 'server', url: 'http://127.0.0.1:8123', username: 'u', password: 'p' })
  t.equal(c.database, 'flag')
  t.equal(c.eventsRetentionDays, 14)
  t.equal(c.rawRetentionDays, 7)
  const none = clickHouseConfigFrom({ data: 'd' }, {})
  t.same([none.target, none.database, none.eventsRetentionDays, none.rawRetentionDays], [{ type: 'embedded', path: 'd/clickhouse' }, 'omni', 90, 30])
})

t.test('a bad value is reported with the flag or the variable that set it', async (t) => {
  try {
    clickHouseConfigFrom({ clickhouseDatabase: 'x; DROP TABLE y' }, { OMNI_RETENTION_RAW_DAYS: 'soon', OMNI_CLICKHOUSE_URL: 'ftp://x' })
    t.fail('should throw')
  } catch (err) {
    t.ok(isOmniError(err) && err.code === 'OMNI_ERR_CONFIG')
    t.same(isOmniError(err) ? err.problems.map((p) => p.where).sort() : [], ['$OMNI_CLICKHOUSE_URL', '$OMNI_RETENTION_RAW_DAYS', '--clickhouse-database'])
  }
})
