import { createHash } from 'node:crypto'
import { omniError } from '../errors/mod.ts'
import type { ClickHouse } from './client.ts'
import { toClickHouseTime } from './time.ts'
import { describeClickHouseError } from './failures.ts'
import { withMigrationLock, type HeldMigrationLock, type MigrationLockOptions } from './migration-lock.ts'
import { MIGRATIONS, MIGRATIONS_TABLE_SQL, TTL_COLUMNS, type Migration } from './schema.ts'

export type MigrationState = 'applied' | 'pending' | 'changed' | 'unknown'

export interface MigrationStatus {
  readonly version: number
  readonly name: string
  readonly state: MigrationState
  readonly appliedAt?: string
}

export interface RetentionStatus {
  readonly table: string
  /** days in the table's TTL now, undefined when the table does not exist yet */
  readonly days: number | undefined
  readonly configured: number
}

export interface MigrateReport {
  readonly applied: readonly number[]
  readonly alreadyApplied: number
  readonly retentionChanged: readonly string[]
}

interface AppliedRow {
  version: number
  name: string
  checksum: string
  applied_at: string
}

export function checksum(m: Migration): string {
  return createHash('sha256').update(m.sql).digest('hex')
}

function render(ch: ClickHouse, sql: string): string {
  const { database, eventsRetentionDays, rawRetentionDays } = ch.config
  return sql.replaceAll('{db}', database).replaceAll('{ttl:events}', String(eventsRetentionDays)).replaceAll('{ttl:raw}', String(rawRetentionDays))
}

async function appliedMigrations(ch: ClickHouse): Promise<Map<number, AppliedRow>> {
  const rs = await ch.client.query({ query: `SELECT version, name, checksum, applied_at FROM ${ch.table('omni_schema_migrations')} FINAL ORDER BY version`, format: 'JSONEachRow' })
  const rows = await rs.json<AppliedRow>()
  return new Map(rows.map((r) => [Number(r.version), r]))
}

async function tableExists(ch: ClickHouse, table: string): Promise<boolean> {
  const rs = await ch.client.query({ query: 'SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = {t:String}', query_params: { db: ch.config.database, t: table }, format: 'JSONEachRow' })
  const [row] = await rs.json<{ n: number | string }>()
  return Number(row?.n ?? 0) > 0
}

/** A column's type; undefined when the table has no such column (or there is no such table). */
async function columnType(ch: ClickHouse, table: string, column: string): Promise<string | undefined> {
  const rs = await ch.client.query({ query: 'SELECT type FROM system.columns WHERE database = {db:String} AND table = {t:String} AND name = {c:String}', query_params: { db: ch.config.database, t: table, c: column }, format: 'JSONEachRow' })
  const [row] = await rs.json<{ type: string }>()
  return row?.type
}

/** Whether a migration's work is already there (see Migration.unlessTableExists, unlessColumnExists and unlessColumnType). */
async function alreadyDone(ch: ClickHouse, m: Migration): Promise<boolean> {
  if (m.unlessTableExists && (await tableExists(ch, m.unlessTableExists))) return true
  if (m.unlessColumnType && (await columnType(ch, m.unlessColumnType.table, m.unlessColumnType.column)) === m.unlessColumnType.type) return true
  return m.unlessColumnExists !== undefined && (await columnType(ch, m.unlessColumnExists.table, m.unlessColumnExists.column)) !== undefined
}

/**
 * A rebuild's copy can outlast the client's idle timeout on a server (about 15 s per million
 * rows here, 2026-12-07): progress headers every few seconds keep its connection alive, as the client's
 * documentation advises for long statements. The embedded engine has no connection to keep.
 */
function statementSettings(ch: ClickHouse): { clickhouse_settings?: { send_progress_in_http_headers: 1; http_headers_progress_interval_ms: string } } {
  return ch.config.target.type === 'server' ? { clickhouse_settings: { send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '10000' } } : {}
}

/**
 * Runs a migration's statement. Its guard is read before the statement runs, so a process that
 * migrates without the lock (an older release) can move a rebuild on in between (rename the table
 * a copy reads from, say), and the statement then fails on a table that is gone. When the guard
 * holds after the failure, that other process did this step: it counts as done.
 */
async function runStatement(ch: ClickHouse, m: Migration): Promise<void> {
  try {
    await ch.client.command({ query: render(ch, m.sql), ...statementSettings(ch) })
  } catch (err) {
    if (!(await alreadyDone(ch, m))) throw err
  }
}

function wrap(err: unknown, what: string): never {
  throw omniError('OMNI_ERR_MIGRATION', `${what}: ${describeClickHouseError(err)}`, { cause: err })
}

/**
 * Applies every migration not yet applied, in order, then sets each table's TTL to the retention
 * configured now. Safe to run on every start and from several processes at once: one migrates
 * while the others wait for the database's migration lock (migration-lock.ts), then find
 * everything applied.
 */
export async function migrate(ch: ClickHouse, opts: { readonly lock?: MigrationLockOptions } = {}): Promise<MigrateReport> {
  try {
    await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ch.config.database}` })
    await ch.client.command({ query: render(ch, MIGRATIONS_TABLE_SQL) })
  } catch (err) {
    wrap(err, `cannot prepare the database ${ch.config.database}`)
  }
  return withMigrationLock(ch, (lock) => migrateHeld(ch, lock), opts.lock)
}

async function migrateHeld(ch: ClickHouse, lock: HeldMigrationLock): Promise<MigrateReport> {
  const applied = await appliedMigrations(ch)
  checkKnown(applied)
  const done: number[] = []
  for (const m of MIGRATIONS) {
    const prior = applied.get(m.version)
    if (prior) {
      if (prior.checksum !== checksum(m)) throw changedError(m)
      continue
    }
    await lock.check()
    try {
      if (!(await alreadyDone(ch, m))) await runStatement(ch, m)
      await ch.client.insert({
        table: ch.table('omni_schema_migrations'),
        values: [{ version: m.version, name: m.name, checksum: checksum(m), applied_at: toClickHouseTime(Date.now()) }],
        format: 'JSONEachRow',
      })
    } catch (err) {
      wrap(err, `migration ${m.version} (${m.name}) failed`)
    }
    done.push(m.version)
  }
  const retentionChanged: string[] = []
  for (const r of await retentionStatus(ch)) {
    if (r.days === r.configured) continue
    await lock.check()
    const spec = TTL_COLUMNS[r.table as keyof typeof TTL_COLUMNS]
    try {
      await ch.client.command({ query: `ALTER TABLE ${ch.table(r.table as keyof typeof TTL_COLUMNS)} MODIFY TTL toDateTime(${spec.column}) + INTERVAL ${r.configured} DAY` })
    } catch (err) {
      wrap(err, `cannot set the retention of ${r.table} to ${r.configured} days`)
    }
    retentionChanged.push(r.table)
  }
  return { applied: done, alreadyApplied: MIGRATIONS.length - done.length, retentionChanged }
}

/** Every known migration with its state, without changing anything. */
export async function migrationStatus(ch: ClickHouse): Promise<{ migrations: MigrationStatus[]; retention: RetentionStatus[] }> {
  const applied = (await tableExists(ch, 'omni_schema_migrations')) ? await appliedMigrations(ch) : new Map<number, AppliedRow>()
  const migrations: MigrationStatus[] = MIGRATIONS.map((m) => {
    const prior = applied.get(m.version)
    if (!prior) return { version: m.version, name: m.name, state: 'pending' }
    return { version: m.version, name: m.name, state: prior.checksum === checksum(m) ? 'applied' : 'changed', appliedAt: prior.applied_at }
  })
  for (const [version, row] of applied) {
    if (!MIGRATIONS.some((m) => m.version === version)) migrations.push({ version, name: row.name, state: 'unknown', appliedAt: row.applied_at })
  }
  return { migrations, retention: await retentionStatus(ch) }
}

async function retentionStatus(ch: ClickHouse): Promise<RetentionStatus[]> {
  const rs = await ch.client.query({
    query: 'SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}',
    query_params: { db: ch.config.database, names: Object.keys(TTL_COLUMNS) },
    format: 'JSONEachRow',
  })
  const engines = new Map((await rs.json<{ name: string; engine_full: string }>()).map((r) => [r.name, r.engine_full]))
  return Object.entries(TTL_COLUMNS).map(([table, spec]) => {
    const engine = engines.get(table)
    const configured = spec.retention === 'events' ? ch.config.eventsRetentionDays : ch.config.rawRetentionDays
    const match = engine ? /TTL .*toIntervalDay\((\d+)\)/.exec(engine) : null
    return { table, days: match ? Number(match[1]) : undefined, configured }
  }).filter((r) => engines.has(r.table))
}

function checkKnown(applied: ReadonlyMap<number, AppliedRow>): void {
  const newest = Math.max(...MIGRATIONS.map((m) => m.version))
  const ahead = [...applied.keys()].filter((v) => v > newest)
  if (ahead.length > 0) {
    throw omniError('OMNI_ERR_MIGRATION', `the database has migration ${ahead.join(', ')}, newer than this version of Omni Fabric knows (up to ${newest}); run a newer omni against it`)
  }
}

function changedError(m: Migration): Error {
  return omniError('OMNI_ERR_MIGRATION', `migration ${m.version} (${m.name}) differs from the one applied to this database; released migrations must never change: add a new migration instead`)
}
