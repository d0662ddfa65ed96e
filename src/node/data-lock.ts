import { randomUUID } from 'node:crypto'
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { omniError } from '../errors/mod.ts'

/** The lock file in a data folder: the pid and start of the process that owns the folder. */
export const LOCK_FILE = 'omni.lock'

/** A data folder this process holds; `release()` gives it up (idempotent). */
export interface DataLock {
  readonly dir: string
  release(): Promise<void>
}

interface Holder {
  readonly pid: number
  readonly startedAt: string
  readonly command: string
}

/**
 * Takes a data folder for this process before anything in it is touched. nats-server does not
 * lock its JetStream store, and a second process on the same folder would rewrite the running
 * server's configuration and start a second server on the same store (invariant 8). A lock left
 * by a process that is gone (killed) is taken over; one held by a live process is refused with
 * OMNI_ERR_DATA_LOCKED naming it.
 */
export async function lockDataFolder(dir: string): Promise<DataLock> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, LOCK_FILE)
  const me: Holder = { pid: process.pid, startedAt: new Date().toISOString(), command: commandName() }
  for (let attempt = 0; attempt < 2; attempt++) {
    // written whole aside, then linked into place: link fails if the lock exists, so of two
    // processes starting at once exactly one gets it, and nobody ever reads a half-written lock
    const aside = `${file}.${randomUUID()}`
    await writeFile(aside, JSON.stringify(me), { mode: 0o600 })
    try {
      await link(aside, file)
      let released = false
      return {
        dir,
        release: async () => {
          if (released) return
          released = true
          const holder = await readHolder(file)
          if (holder?.pid === process.pid) await unlink(file).catch(() => undefined)
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      await unlink(aside).catch(() => undefined)
    }
    const holder = await readHolder(file)
    if (holder && isAlive(holder.pid)) {
      throw omniError('OMNI_ERR_DATA_LOCKED', `the data folder ${dir} is in use by process ${holder.pid} (${holder.command || 'omni'}, since ${holder.startedAt}); stop it, or give this one another --data folder`)
    }
    // left by a process that is gone: moved aside and retried. Between reading it and moving it,
    // another process may have done the same and linked its own live lock in its place: what was
    // moved is checked, and a lock that is not the dead one read above is put back and refused
    const stale = `${file}.stale-${process.pid}`
    const moved = await rename(file, stale).then(() => true, () => false)
    if (!moved) continue
    const took = await readHolder(stale)
    if (took && (took.pid !== holder?.pid || took.startedAt !== holder.startedAt)) {
      await link(stale, file).catch(() => undefined)
      await unlink(stale).catch(() => undefined)
      throw omniError('OMNI_ERR_DATA_LOCKED', `the data folder ${dir} was just taken by process ${took.pid} (${took.command || 'omni'}); stop it, or give this one another --data folder`)
    }
    await unlink(stale).catch(() => undefined)
  }
  throw omniError('OMNI_ERR_DATA_LOCKED', `the data folder ${dir} is being taken by another process at the same moment; try again`)
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Holder>
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, startedAt: String(parsed.startedAt ?? '?'), command: String(parsed.command ?? '') } : undefined
  } catch {
    // unreadable or half written: treated as left behind
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, it is only not ours to signal
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The program and its first word (`omni.ts up`): never the flags, which may carry credentials. */
function commandName(): string {
  return [basename(process.argv[1] ?? 'node'), process.argv[2] ?? ''].join(' ').trim().slice(0, 100)
}
