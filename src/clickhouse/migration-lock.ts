// One migrating process at a time per database. Guards and `IF NOT EXISTS` do not make two runs
// at once safe: a run that read "not applied" can create a table that the other run has already
// renamed or dropped in a later migration (make test, 2026-12-07: omni_event_actions made again
// after migration 12 renamed it), and a rebuild read from a table the other run moved aside can
// lose rows. ClickHouse has no advisory lock, but CREATE TABLE without IF NOT EXISTS is atomic:
// the process whose create succeeds holds the lock. The table's comment holds its lease, renewed
// while the holder migrates and judged by the server's clock, so a holder that died is broken
// after its lease, and a live one is never.
import { randomUUID } from 'node:crypto'
import { omniError } from '../errors/mod.ts'
import type { ClickHouse } from './client.ts'
import { clickHouseErrorType, describeClickHouseError } from './failures.ts'

export const MIGRATION_LOCK_TABLE = 'omni_migration_lock'

export interface MigrationLockOptions {
  /** how long a lease lasts unless renewed (default 60 s); the holder renews it every third of that */
  readonly leaseMs?: number
  /** how long to wait for another process's migration before giving up (default 15 min) */
  readonly waitMs?: number
  /** between two tries while another process holds the lock (default 250 ms) */
  readonly pollMs?: number
}

interface Lease {
  readonly holder: string
  /** the server's clock, in ms */
  readonly until: number
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Runs `work` while holding the database's migration lock; waits for another holder first. */
export async function withMigrationLock<T>(ch: ClickHouse, work: () => Promise<T>, opts: MigrationLockOptions = {}): Promise<T> {
  const leaseMs = opts.leaseMs ?? 60_000
  const holder = `${process.pid}-${randomUUID()}`
  await acquire(ch, holder, leaseMs, opts.waitMs ?? 15 * 60_000, opts.pollMs ?? 250)
  // a failed renewal is tried again at the next tick; the lease outlasts two of them
  const renewal = setInterval(() => void writeLease(ch, holder, leaseMs).catch(() => undefined), Math.max(10, Math.floor(leaseMs / 3)))
  try {
    return await work()
  } finally {
    clearInterval(renewal)
    await release(ch, holder)
  }
}

async function acquire(ch: ClickHouse, holder: string, leaseMs: number, waitMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + waitMs
  let seen: Lease | undefined
  for (;;) {
    const until = (await serverNow(ch)) + leaseMs
    try {
      await ch.client.command({ query: `CREATE TABLE ${lockTable(ch)} (holder String) ENGINE = Memory COMMENT ${quote(JSON.stringify({ holder, until }))}` })
      return
    } catch (err) {
      if (clickHouseErrorType(err) !== 'TABLE_ALREADY_EXISTS') throw omniError('OMNI_ERR_MIGRATION', `cannot take the migration lock: ${describeClickHouseError(err)}`, { cause: err })
    }
    seen = await readLease(ch)
    // gone in between (released or broken): take it at once
    if (seen === undefined) continue
    if (seen.until < (await serverNow(ch))) {
      await breakStale(ch)
      continue
    }
    if (Date.now() >= deadline) {
      throw omniError('OMNI_ERR_MIGRATION', `another process (${seen.holder}) has been migrating ${ch.config.database} for longer than ${Math.round(waitMs / 1000)} s; try again once it is done, or, if no process migrates, drop ${lockTable(ch)}`)
    }
    await sleep(pollMs)
  }
}

/** The lease in the lock table's comment; undefined when there is no lock table (or no lease in it: a lock that is being made). */
async function readLease(ch: ClickHouse): Promise<Lease | undefined> {
  const rs = await ch.client.query({
    query: 'SELECT comment FROM system.tables WHERE database = {db:String} AND name = {name:String}',
    query_params: { db: ch.config.database, name: MIGRATION_LOCK_TABLE },
    format: 'JSONEachRow',
  })
  const [row] = await rs.json<{ comment: string }>()
  if (!row) return undefined
  try {
    const lease = JSON.parse(row.comment) as Partial<Lease>
    if (typeof lease.holder === 'string' && typeof lease.until === 'number') return { holder: lease.holder, until: lease.until }
  } catch {
    // an unreadable comment is no lease: judged stale below
  }
  return { holder: 'unknown', until: 0 }
}

/**
 * Moves an expired lock aside and drops it. RENAME is atomic: of several processes breaking the
 * same lock, one moves it and the others find it gone, so none drops a lock taken after it.
 */
async function breakStale(ch: ClickHouse): Promise<void> {
  const aside = `${ch.config.database}.${MIGRATION_LOCK_TABLE}_stale_${randomUUID().replaceAll('-', '')}`
  try {
    await ch.client.command({ query: `RENAME TABLE ${lockTable(ch)} TO ${aside}` })
  } catch {
    return // another process broke or released it first
  }
  await ch.client.command({ query: `DROP TABLE IF EXISTS ${aside}` }).catch(() => undefined)
}

async function writeLease(ch: ClickHouse, holder: string, leaseMs: number): Promise<void> {
  const until = (await serverNow(ch)) + leaseMs
  await ch.client.command({ query: `ALTER TABLE ${lockTable(ch)} MODIFY COMMENT ${quote(JSON.stringify({ holder, until }))}` })
}

/** Drops the lock if it is still ours (a holder whose lease ran out may have lost it to another). */
async function release(ch: ClickHouse, holder: string): Promise<void> {
  const lease = await readLease(ch).catch(() => undefined)
  if (lease?.holder !== holder) return
  await ch.client.command({ query: `DROP TABLE IF EXISTS ${lockTable(ch)}` }).catch(() => undefined)
}

async function serverNow(ch: ClickHouse): Promise<number> {
  const rs = await ch.client.query({ query: 'SELECT toUnixTimestamp64Milli(now64(3)) AS now', format: 'JSONEachRow' })
  const [row] = await rs.json<{ now: string | number }>()
  return Number(row?.now)
}

function lockTable(ch: ClickHouse): string {
  return `${ch.config.database}.${MIGRATION_LOCK_TABLE}`
}

/** A ClickHouse string literal: the comment is JSON of our own making, quotes and backslashes escaped all the same. */
function quote(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
}
