// One migrating process at a time per database. Guards and `IF NOT EXISTS` do not make two runs
// at once safe: a run that read "not applied" can create a table that the other run has already
// renamed or dropped in a later migration (make test, 2026-12-07: omni_event_actions made again
// after migration 12 renamed it), and a rebuild read from a table the other run moved aside can
// lose rows. ClickHouse has no advisory lock, but CREATE TABLE without IF NOT EXISTS is atomic:
// the process whose create succeeds holds the lock. The table's comment holds its lease, renewed
// while the holder migrates and judged by the server's clock, so a holder that died is broken
// after its lease. The holder checks before each step that the lock is still its own (the same
// table, a lease renewed in time) and stops if not: a lease lost to a stalled holder never lets
// two processes go on migrating.
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

export interface Lease {
  readonly holder: string
  /** the server's clock, in ms */
  readonly until: number
  /** the lock table's own id: a lock made again under the same name is another lock */
  readonly uuid: string
  /** the comment as read: a renewed lease reads otherwise */
  readonly comment: string
}

/** What the work holding the lock is given: a check to make before each step. */
export interface HeldMigrationLock {
  /**
   * Throws OMNI_ERR_MIGRATION when the lock is no longer ours: its table is another one, or gone
   * (a process judged our lease over and broke it). The work stops there, before its next
   * statement. A lease merely past its end, with nobody taking over, is still ours: a long
   * statement on an engine that runs the renewal after it must not fail the start for that.
   */
  check(): Promise<void>
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Runs `work` while holding the database's migration lock; waits for another holder first. */
export async function withMigrationLock<T>(ch: ClickHouse, work: (lock: HeldMigrationLock) => Promise<T>, opts: MigrationLockOptions = {}): Promise<T> {
  const leaseMs = opts.leaseMs ?? 60_000
  const holder = `${process.pid}-${randomUUID()}`
  const uuid = await acquire(ch, holder, leaseMs, opts.waitMs ?? 15 * 60_000, opts.pollMs ?? 250)
  const state = { lost: false }
  const ours = async () => {
    const now = await readLease(ch)
    return now !== undefined && now.uuid === uuid && now.holder === holder
  }
  const renew = async () => {
    if (state.lost) return
    if (!(await ours())) {
      state.lost = true
      return
    }
    await writeLease(ch, holder, leaseMs)
  }
  // one renewal at a time, each awaited before the release; a failed one is tried at the next tick
  let renewing: Promise<void> = Promise.resolve()
  const timer = setInterval(() => {
    renewing = renewing.then(renew).catch(() => undefined)
  }, Math.max(10, Math.floor(leaseMs / 3)))
  const lock: HeldMigrationLock = {
    check: async () => {
      if (state.lost || !(await ours())) {
        state.lost = true
        throw omniError('OMNI_ERR_MIGRATION', `lost the migration lock of ${ch.config.database} (another process broke it, its lease having run out); stopped before the next step, start again to go on`)
      }
    },
  }
  try {
    return await work(lock)
  } finally {
    clearInterval(timer)
    await renewing
    if (!state.lost && (await ours().catch(() => false))) await ch.client.command({ query: `DROP TABLE IF EXISTS ${lockTable(ch)}` }).catch(() => undefined)
  }
}

/** Takes the lock (waiting while a live holder has it, breaking a dead one's); returns its table's id. */
async function acquire(ch: ClickHouse, holder: string, leaseMs: number, waitMs: number, pollMs: number): Promise<string> {
  const deadline = Date.now() + waitMs
  let seen: Lease | undefined
  for (let first = true; ; first = false) {
    if (!first) {
      if (Date.now() >= deadline) {
        const who = seen ? `another process (${seen.holder}) has been migrating ${ch.config.database}` : `the lock of ${ch.config.database} could not be taken`
        throw omniError('OMNI_ERR_MIGRATION', `${who} for longer than ${Math.round(waitMs / 1000)} s; try again once it is done, or, if no process migrates, drop ${lockTable(ch)}`)
      }
      await sleep(pollMs)
    }
    const until = (await serverNow(ch)) + leaseMs
    try {
      await ch.client.command({ query: `CREATE TABLE ${lockTable(ch)} (holder String) ENGINE = Memory COMMENT ${quote(JSON.stringify({ holder, until }))}` })
      const mine = await readLease(ch)
      if (mine?.holder === holder) return mine.uuid
      continue // broken in the instant after its creation: a new lease is needed
    } catch (err) {
      if (clickHouseErrorType(err) !== 'TABLE_ALREADY_EXISTS') throw omniError('OMNI_ERR_MIGRATION', `cannot take the migration lock: ${describeClickHouseError(err)}`, { cause: err })
    }
    seen = await readLease(ch)
    if (seen !== undefined && seen.until < (await serverNow(ch))) await breakStale(ch, seen)
  }
}

/** The lease of the lock table now; undefined when there is none. An unreadable comment is a lease long over. */
async function readLease(ch: ClickHouse): Promise<Lease | undefined> {
  const rs = await ch.client.query({
    query: 'SELECT comment, toString(uuid) AS uuid FROM system.tables WHERE database = {db:String} AND name = {name:String}',
    query_params: { db: ch.config.database, name: MIGRATION_LOCK_TABLE },
    format: 'JSONEachRow',
  })
  const [row] = await rs.json<{ comment: string; uuid: string }>()
  if (!row) return undefined
  try {
    const lease = JSON.parse(row.comment) as Partial<Lease>
    if (typeof lease.holder === 'string' && typeof lease.until === 'number') return { holder: lease.holder, until: lease.until, uuid: row.uuid, comment: row.comment }
  } catch {
    // judged over, below
  }
  return { holder: 'unknown', until: 0, uuid: row.uuid, comment: row.comment }
}

/**
 * Moves an expired lock aside and drops it. Between reading the lease and the RENAME another
 * process may have broken that lock and made its own: what was moved is checked by its id, and
 * a live lock moved by mistake is put back (its holder's next check fails if that cannot be).
 * Exported for its test.
 */
export async function breakStale(ch: ClickHouse, stale: Lease): Promise<void> {
  const asideName = `${MIGRATION_LOCK_TABLE}_stale_${randomUUID().replaceAll('-', '')}`
  const aside = `${ch.config.database}.${asideName}`
  try {
    await ch.client.command({ query: `RENAME TABLE ${lockTable(ch)} TO ${aside}` })
  } catch (err) {
    if (clickHouseErrorType(err) === 'UNKNOWN_TABLE') return // another process broke or released it first
    throw omniError('OMNI_ERR_MIGRATION', `cannot break the expired migration lock of ${stale.holder}: ${describeClickHouseError(err)}`, { cause: err })
  }
  const rs = await ch.client.query({ query: 'SELECT toString(uuid) AS uuid, comment FROM system.tables WHERE database = {db:String} AND name = {name:String}', query_params: { db: ch.config.database, name: asideName }, format: 'JSONEachRow' })
  const [moved] = await rs.json<{ uuid: string; comment: string }>()
  // the id tells tables apart where the database has them (Atomic), the lease where it does not;
  // a lease renewed since it was read is a live holder's too
  if (moved && (moved.uuid !== stale.uuid || moved.comment !== stale.comment)) {
    await ch.client.command({ query: `RENAME TABLE ${aside} TO ${lockTable(ch)}` }).catch(() => undefined)
    return
  }
  await ch.client.command({ query: `DROP TABLE IF EXISTS ${aside}` }).catch(() => undefined)
}

async function writeLease(ch: ClickHouse, holder: string, leaseMs: number): Promise<void> {
  const until = (await serverNow(ch)) + leaseMs
  await ch.client.command({ query: `ALTER TABLE ${lockTable(ch)} MODIFY COMMENT ${quote(JSON.stringify({ holder, until }))}` })
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
