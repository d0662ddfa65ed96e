import t from 'tap'
import { openClickHouse, type ClickHouse } from '../../src/clickhouse/client.ts'
import { checksum, migrate, migrationStatus } from '../../src/clickhouse/migrations.ts'
import { MIGRATIONS } from '../../src/clickhouse/schema.ts'
import { toClickHouseTime } from '../../src/clickhouse/time.ts'
import { isOmniError } from '../../src/errors/mod.ts'
import { count, migratedUpTo, openTestClickHouse, rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'

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
  t.same(tables.map((r) => r.name), ['omni_events', 'omni_raw_payloads', 'omni_schema_migrations', 'omni_stage_outcomes'])
})

t.test('the tables declare the types and the retention TTL the user set', async (t) => {
  const ch = await openTestClickHouse(t, { config: testClickHouseConfig({ eventsRetentionDays: 45, rawRetentionDays: 7 }) })
  const events = await showCreate(ch, 'omni_events')
  t.match(events, /`time` DateTime64\(3, 'UTC'\)/)
  t.match(events, /`payload` String,/)
  t.match(events, /`provider_meta` String,/)
  t.match(events, /`type` LowCardinality\(String\)/)
  t.match(events, /ReplacingMergeTree/)
  t.match(events, /TTL toDateTime\(recorded_at\) \+ toIntervalDay\(45\)/)
  t.match(await showCreate(ch, 'omni_stage_outcomes'), /TTL toDateTime\(recorded_at\) \+ toIntervalDay\(45\)/)
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
  t.same([...report.retentionChanged].sort(), ['omni_events', 'omni_raw_payloads', 'omni_stage_outcomes'])
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

// recorded now: a row older than the retention would be dropped by the TTL at insert
const OUTCOME = { event_id: 'e1', idempotency_key: 'k1', type: 't', tenant: 'ta', pipeline: 'p', stage: 's', uses: 'u', digest: '', status: 'ok', duration_ms: 1, error: '', attempt: 1, stream_seq: 7, recorded_at: toClickHouseTime(Date.now()) }
const tableNames = async (ch: ClickHouse) => (await rows<{ name: string }>(ch, 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: ch.config.database })).map((r) => r.name)

t.test('a database of the previous release upgrades: omni_event_actions becomes omni_stage_outcomes, rows and TTL kept', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false, config: testClickHouseConfig({ eventsRetentionDays: 90 }) })
  await migratedUpTo(ch, 3)
  await ch.client.insert({ table: `${ch.config.database}.omni_event_actions`, values: [OUTCOME], format: 'JSONEachRow' })
  t.same((await migrationStatus(ch)).migrations.map((m) => `${m.version}:${m.state}`), ['1:applied', '2:applied', '3:applied', '4:pending', '5:pending', '6:pending', '7:pending', '8:pending', '9:pending', '10:pending', '11:pending', '12:pending', '13:pending', '14:pending', '15:pending', '16:pending'])

  const report = await migrate(ch)
  t.same(report.applied, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 'the rename runs, then the rebuild of omni_events')
  t.same(report.retentionChanged, [], 'the TTL came along with the table')
  t.same(await tableNames(ch), ['omni_events', 'omni_raw_payloads', 'omni_schema_migrations', 'omni_stage_outcomes'])
  t.match(await rows(ch, `SELECT event_id, stage, toString(status) AS status, stream_seq, labels, origin FROM ${ch.table('omni_stage_outcomes')} FINAL`), [{ event_id: 'e1', stage: 's', status: 'ok', labels: '{}', origin: 'client' }], 'the rows are kept, with no labels, as client rows')
  t.match(await showCreate(ch, 'omni_stage_outcomes'), /ReplacingMergeTree\(attempt\)[\s\S]*TTL toDateTime\(recorded_at\) \+ toIntervalDay\(90\)/)
  t.ok((await migrationStatus(ch)).migrations.every((m) => m.state === 'applied'), 'every migration applied')
  t.same((await migrate(ch)).applied, [], 'and nothing is left to do')
})

t.test('the rename is safe to repeat: after a run that died before recording it, or beside a second process', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await migratedUpTo(ch, 3)
  await ch.client.insert({ table: `${ch.config.database}.omni_event_actions`, values: [OUTCOME], format: 'JSONEachRow' })
  // the previous run renamed the table, then died before its bookkeeping row
  await ch.client.command({ query: `RENAME TABLE ${ch.config.database}.omni_event_actions TO ${ch.table('omni_stage_outcomes')}` })
  t.same((await migrate(ch)).applied, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 'recorded without renaming again')
  t.same(await tableNames(ch), ['omni_events', 'omni_raw_payloads', 'omni_schema_migrations', 'omni_stage_outcomes'])

  // a second process read the bookkeeping before the first wrote it, so it runs 2 to 4 again:
  // its migration 2 makes an empty omni_event_actions, and its rename must not fail on that
  await ch.client.command({ query: `ALTER TABLE ${ch.table('omni_schema_migrations')} DELETE WHERE version >= 2`, clickhouse_settings: { mutations_sync: '2' } })
  t.same((await migrate(ch)).applied, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 'the second run succeeds')
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_stage_outcomes')} FINAL`), 1, 'the outcomes are where they were')

  // three runs at once, several times over. Without a lock a run's guard could pass just before
  // another renamed the table its statement names (one run in five failed), or a run made
  // omni_event_actions again after another had renamed it (make test once): one migrates, the
  // others wait for the migration lock and find everything applied
  for (let round = 0; round < 8; round++) {
    const fresh = await openTestClickHouse(t, { migrated: false })
    const reports = await Promise.all([migrate(fresh), migrate(fresh), migrate(fresh)])
    t.same(reports.map((r) => r.applied.length).sort((a, b) => a - b), [0, 0, MIGRATIONS.length], `round ${round + 1}: one run applied every migration, the two others none`)
    t.ok((await migrationStatus(fresh)).migrations.every((m) => m.state === 'applied'), 'all applied')
    t.same(await tableNames(fresh), ['omni_events', 'omni_raw_payloads', 'omni_schema_migrations', 'omni_stage_outcomes'], 'and the tables one run leaves, the lock gone')
  }
})

t.test('an omni_events of release 4 is rebuilt to keep first copies, its rows kept', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false, config: testClickHouseConfig({ eventsRetentionDays: 90 }) })
  await migratedUpTo(ch, 4)
  const row = (id: string, seq: number, text: string) => ({ event_id: id, type: 't.x', source: 's', subject: 'omni.evt.a.b.v1', time: '2026-01-01 00:00:00.000', tenant: 'ta', instance: '', provider: '', visibility: 'local', actor: '', conversation: '', correlation_id: '', causation_id: '', idempotency_key: 'k1', stream_seq: seq, emitted_by: '', pipelines: [], payload: { text }, provider_meta: {}, dataref: '', recorded_at: toClickHouseTime(Date.now()) })
  await ch.client.insert({ table: ch.table('omni_events'), values: [row('e1', 3, 'first')], format: 'JSONEachRow' })
  t.same((await migrate(ch)).applied, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
  t.same(await tableNames(ch), ['omni_events', 'omni_raw_payloads', 'omni_schema_migrations', 'omni_stage_outcomes'], 'the old table is gone')
  t.match(await showCreate(ch, 'omni_events'), /ReplacingMergeTree\(first_rank\)[\s\S]*TTL toDateTime\(recorded_at\) \+ toIntervalDay\(90\)/)
  // a later copy of the same event, written after the upgrade, does not replace the kept row
  await ch.client.insert({ table: ch.table('omni_events'), values: [row('e2', 9, 'late')], format: 'JSONEachRow' })
  t.same(await rows(ch, `SELECT event_id, JSONExtractString(payload, 'text') AS text FROM ${ch.table('omni_events')} FINAL`), [{ event_id: 'e1', text: 'first' }], 'the row moved over, and stays the kept copy')
  // rows of release 4 predate origins: they are `client`, and the origin is in the sorting key
  t.same(await rows(ch, `SELECT event_id, origin FROM ${ch.table('omni_events')} FINAL`), [{ event_id: 'e1', origin: 'client' }], 'an old row is a client row')
  t.match(await showCreate(ch, 'omni_events'), /ORDER BY \(tenant, idempotency_key, subject, origin\)/)
  // the same key from a webhook is an event of its own: a client's earlier copy never stands for it
  await ch.client.insert({ table: ch.table('omni_events'), values: [{ ...row('e4', 12, 'from the provider'), origin: 'webhook:evolution:phone-1' }], format: 'JSONEachRow' })
  await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table('omni_events')} FINAL` })
  t.same(await rows(ch, `SELECT event_id, origin FROM ${ch.table('omni_events')} FINAL ORDER BY origin`), [{ event_id: 'e1', origin: 'client' }, { event_id: 'e4', origin: 'webhook:evolution:phone-1' }], 'two origins, two rows, after a merge too')
  await ch.client.command({ query: `ALTER TABLE ${ch.table('omni_events')} DELETE WHERE event_id = 'e4'`, clickhouse_settings: { mutations_sync: '2' } })

  // a second process that read the bookkeeping before the rebuild was recorded runs 5 to 9 again:
  // the finished rebuild is recognized by its column and not redone over the new table
  await ch.client.command({ query: `ALTER TABLE ${ch.table('omni_schema_migrations')} DELETE WHERE version >= 5`, clickhouse_settings: { mutations_sync: '2' } })
  await ch.client.insert({ table: ch.table('omni_events'), values: [{ ...row('e3', 11, 'other'), idempotency_key: 'k3' }], format: 'JSONEachRow' })
  t.same((await migrate(ch)).applied, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
  t.same(await tableNames(ch), ['omni_events', 'omni_raw_payloads', 'omni_schema_migrations', 'omni_stage_outcomes'])
  t.same(await rows(ch, `SELECT event_id FROM ${ch.table('omni_events')} FINAL ORDER BY event_id`), [{ event_id: 'e1' }, { event_id: 'e3' }], 'rows written after the rebuild are all still there')
})
