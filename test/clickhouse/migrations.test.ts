import t from 'tap'
import { openClickHouse } from '../../src/clickhouse/client.ts'
import { checksum, migrate, migrationStatus } from '../../src/clickhouse/migrations.ts'
import { MIGRATIONS } from '../../src/clickhouse/schema.ts'
import { isOmniError } from '../../src/errors/mod.ts'
import { openTestClickHouse, rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'

const showCreate = async (ch: Awaited<ReturnType<typeof openTestClickHouse>>, table: string) => {
  const rs = await ch.client.query({ query: `SHOW CREATE TABLE ${ch.config.database}.${table}`, format: 'TabSeparatedRaw' })
  return rs.text()
}

t.test('from an empty engine: everything pending, then applied once, then nothing left to do', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  const before = await migrationStatus(ch)
  t.same(before.migrations.map((m) => m.state), MIGRATIONS.map(() => 'pending'), 'every migration is pending')
  t.same(before.retention, [], 'no tables yet')

  const first = await migrate(ch)
  t.same(first.applied, MIGRATIONS.map((m) => m.version), 'all applied, in order')
  const again = await migrate(ch)
  t.same(again.applied, [], 're-running applies nothing')
  t.equal(again.alreadyApplied, MIGRATIONS.length)
  t.same(again.retentionChanged, [])

  const after = await migrationStatus(ch)
  t.ok(after.migrations.every((m) => m.state === 'applied' && m.appliedAt), 'every migration is applied, with a time')
  const recorded = await rows<{ n: string }>(ch, `SELECT count() AS n FROM ${ch.table('omni_schema_migrations')}`)
  t.equal(Number(recorded[0]?.n), MIGRATIONS.length, 'one bookkeeping row per migration, even after two runs')
  const tables = await rows<{ name: string }>(ch, 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: ch.config.database })
  t.same(tables.map((r) => r.name), ['omni_event_actions', 'omni_events', 'omni_raw_payloads', 'omni_schema_migrations'])
})

t.test('the tables declare the types and the retention TTL the user set', async (t) => {
  const ch = await openTestClickHouse(t, { config: testClickHouseConfig({ eventsRetentionDays: 45, rawRetentionDays: 7 }) })
  const events = await showCreate(ch, 'omni_events')
  t.match(events, /`time` DateTime64\(3, 'UTC'\)/)
  t.match(events, /`payload` JSON/)
  t.match(events, /`type` LowCardinality\(String\)/)
  t.match(events, /ReplacingMergeTree/)
  t.match(events, /TTL toDateTime\(recorded_at\) \+ toIntervalDay\(45\)/)
  t.match(await showCreate(ch, 'omni_event_actions'), /TTL toDateTime\(recorded_at\) \+ toIntervalDay\(45\)/)
  t.match(await showCreate(ch, 'omni_raw_payloads'), /TTL toDateTime\(received_at\) \+ toIntervalDay\(7\)/)
})

t.test('a changed retention is applied at the next start, and reported', async (t) => {
  const config = testClickHouseConfig({ eventsRetentionDays: 10 })
  const first = await openTestClickHouse(t, { config })
  await first.close()
  const ch = await openClickHouse({ ...config, eventsRetentionDays: 20, rawRetentionDays: 3 })
  t.teardown(() => ch.close())
  const status = await migrationStatus(ch)
  t.same(status.retention.find((r) => r.table === 'omni_events'), { table: 'omni_events', days: 10, configured: 20 }, 'status shows the difference')
  const report = await migrate(ch)
  t.same([...report.retentionChanged].sort(), ['omni_event_actions', 'omni_events', 'omni_raw_payloads'])
  t.match(await showCreate(ch, 'omni_events'), /toIntervalDay\(20\)/)
  t.match(await showCreate(ch, 'omni_raw_payloads'), /toIntervalDay\(3\)/)
})

t.test('a migration changed after it was applied stops the start', async (t) => {
  const ch = await openTestClickHouse(t)
  const first = MIGRATIONS[0]
  t.ok(first)
  await ch.client.insert({
    table: ch.table('omni_schema_migrations'),
    values: [{ version: first?.version, name: first?.name, checksum: 'f'.repeat(64), applied_at: '2030-01-01 00:00:00.000' }],
    format: 'JSONEachRow',
  })
  const err = await migrate(ch).then(() => undefined, (e: unknown) => e)
  t.ok(isOmniError(err) && err.code === 'OMNI_ERR_MIGRATION', 'OMNI_ERR_MIGRATION')
  t.match(String((err as Error).message), /migration 1 .*differs.*add a new migration/)
  t.equal((await migrationStatus(ch)).migrations[0]?.state, 'changed')
  t.not(checksum(first as (typeof MIGRATIONS)[number]), 'f'.repeat(64))
})

t.test('a database migrated by a newer version is refused', async (t) => {
  const ch = await openTestClickHouse(t)
  await ch.client.insert({ table: ch.table('omni_schema_migrations'), values: [{ version: 999, name: 'from the future', checksum: 'x', applied_at: '2030-01-01 00:00:00.000' }], format: 'JSONEachRow' })
  const err = await migrate(ch).then(() => undefined, (e: unknown) => e)
  t.ok(isOmniError(err) && err.code === 'OMNI_ERR_MIGRATION')
  t.match(String((err as Error).message), /migration 999, newer than this version/)
  t.equal((await migrationStatus(ch)).migrations.find((m) => m.version === 999)?.state, 'unknown')
})
