// The migration lock (src/clickhouse/migration-lock.ts): one migrating process per database; a
// lock whose holder died is broken after its lease, a live holder's never is.
import t from 'tap'
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { breakStale, MIGRATION_LOCK_TABLE, withMigrationLock } from '../../src/clickhouse/migration-lock.ts'
import { migrate, migrationStatus } from '../../src/clickhouse/migrations.ts'
import { hasCode } from '../../src/errors/mod.ts'
import { openTestClickHouse, rows } from '../fixtures/clickhouse.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const lockTables = async (ch: ClickHouse) => (await rows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE '${MIGRATION_LOCK_TABLE}%'`, { db: ch.config.database })).map((r) => r.name)
/** A lock as another process leaves it: its holder and its lease's end (server ms), or any comment. */
async function plantLock(ch: ClickHouse, comment: string): Promise<void> {
  await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ch.config.database}` })
  await ch.client.command({ query: `CREATE TABLE ${ch.config.database}.${MIGRATION_LOCK_TABLE} (holder String) ENGINE = Memory COMMENT '${comment}'` })
}

t.test('a lock whose holder died (its lease over) is broken, and the migration runs', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await plantLock(ch, JSON.stringify({ holder: 'dead-process', until: 1 }))
  t.ok((await migrate(ch)).applied.length > 0, 'migrated')
  t.same(await lockTables(ch), [], 'no lock left, none moved aside')
})

t.test('an unreadable lease counts as over', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await plantLock(ch, 'not json')
  t.ok((await migrate(ch)).applied.length > 0)
  t.same(await lockTables(ch), [])
})

t.test("a live holder is waited for, and past the wait the error names it; nothing is applied meanwhile", async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await plantLock(ch, JSON.stringify({ holder: 'pid-42', until: Date.now() + 3_600_000 }))
  const err = await migrate(ch, { lock: { waitMs: 600, pollMs: 50 } }).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(hasCode(err, 'OMNI_ERR_MIGRATION'), 'OMNI_ERR_MIGRATION')
  t.match((err as Error).message, /another process \(pid-42\) has been migrating .* drop .*omni_migration_lock/)
  t.ok((await migrationStatus(ch)).migrations.every((m) => m.state === 'pending'), 'nothing applied')
  t.same(await lockTables(ch), [MIGRATION_LOCK_TABLE], "the other process's lock is left alone")
  await ch.client.command({ query: `DROP TABLE ${ch.config.database}.${MIGRATION_LOCK_TABLE}` })
  t.ok((await migrate(ch)).applied.length > 0, 'once it is gone the migration runs')
})

t.test('the holder renews its lease: work longer than a lease is not broken into, and the next one runs after it', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ch.config.database}` })
  const lock = { leaseMs: 400, pollMs: 20 }
  const spans: { who: string; start: number; end: number }[] = []
  const work = (who: string, ms: number) => async () => {
    const start = performance.now()
    await sleep(ms)
    spans.push({ who, start, end: performance.now() })
    return who
  }
  const first = withMigrationLock(ch, work('first', 1500), lock)
  await sleep(100)
  const second = withMigrationLock(ch, work('second', 10), lock)
  t.same(await Promise.all([first, second]), ['first', 'second'])
  const [a, b] = spans
  t.equal(a?.who, 'first')
  t.ok(b && a && b.start >= a.end, `the second started after the first ended (${Math.round((b?.start ?? 0) - (a?.end ?? 0))} ms later), though the first held it for almost four leases`)
  t.same(await lockTables(ch), [])
})

t.test('a failing migration releases the lock', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ch.config.database}` })
  await t.rejects(withMigrationLock(ch, async () => Promise.reject(new Error('boom'))), /boom/)
  t.same(await lockTables(ch), [])
})

t.test('a holder whose lock was broken and taken by another stops at its next check', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ch.config.database}` })
  const steps: string[] = []
  const err = await withMigrationLock(ch, async (lock) => {
    await lock.check()
    steps.push('one')
    // another process judged our lease over, broke the lock and made its own
    await ch.client.command({ query: `DROP TABLE ${ch.config.database}.${MIGRATION_LOCK_TABLE}` })
    await plantLock(ch, JSON.stringify({ holder: 'pid-7', until: Date.now() + 3_600_000 }))
    await lock.check()
    steps.push('two')
  }).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(hasCode(err, 'OMNI_ERR_MIGRATION'))
  t.match((err as Error).message, /lost the migration lock of .*another process broke it/)
  t.same(steps, ['one'], 'nothing ran after the check')
  t.same(await lockTables(ch), [MIGRATION_LOCK_TABLE], "the other process's lock is left in place")
  const [row] = await rows<{ comment: string; uuid: string }>(ch, 'SELECT comment, toString(uuid) AS uuid FROM system.tables WHERE database = {db:String} AND name = {name:String}', { db: ch.config.database, name: MIGRATION_LOCK_TABLE })
  t.match(row?.comment, /pid-7/)
  t.not(row?.uuid, '00000000-0000-0000-0000-000000000000', 'this engine gives tables their own ids')
})

t.test('breaking a lease judged over moves back a lock that was made again in between', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  await plantLock(ch, JSON.stringify({ holder: 'live', until: Date.now() + 3_600_000 }))
  const [live] = await rows<{ uuid: string }>(ch, 'SELECT toString(uuid) AS uuid FROM system.tables WHERE database = {db:String} AND name = {name:String}', { db: ch.config.database, name: MIGRATION_LOCK_TABLE })
  // what a slow breaker read before another process broke that lock and made this one
  await breakStale(ch, { holder: 'dead', until: 1, uuid: '5e0d1d5e-0000-4000-8000-000000000001', comment: JSON.stringify({ holder: 'dead', until: 1 }) })
  const after = await rows<{ name: string; uuid: string; comment: string }>(ch, `SELECT name, toString(uuid) AS uuid, comment FROM system.tables WHERE database = {db:String} AND name LIKE '${MIGRATION_LOCK_TABLE}%'`, { db: ch.config.database })
  t.same(after.map((r) => [r.name, r.uuid]), [[MIGRATION_LOCK_TABLE, live?.uuid]], 'the live lock is back under its name, nothing left aside')
  t.match(after[0]?.comment, /"live"/)
})
