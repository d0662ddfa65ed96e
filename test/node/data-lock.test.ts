import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { LOCK_FILE, lockDataFolder } from '../../src/node/data-lock.ts'

t.test('a data folder is held by one lock at a time, and given back', async (t) => {
  const dir = join(t.testdir(), 'data')
  const lock = await lockDataFolder(dir)
  t.equal((await stat(join(dir, LOCK_FILE))).mode & 0o777, 0o600, 'the lock file is the owner\'s only')
  t.match(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')), { pid: process.pid })
  await t.rejects(lockDataFolder(dir), { code: 'OMNI_ERR_DATA_LOCKED', message: new RegExp(`in use by process ${process.pid}`) })
  await lock.release()
  await lock.release()
  await t.rejects(stat(join(dir, LOCK_FILE)), 'released: the file is gone')
  const again = await lockDataFolder(dir)
  await again.release()
})

t.test('of two takers at once exactly one wins', async (t) => {
  const dir = t.testdir()
  const results = await Promise.allSettled([lockDataFolder(dir), lockDataFolder(dir), lockDataFolder(dir)])
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
  for (const r of results) if (r.status === 'fulfilled') await r.value.release()
})

t.test('a lock left by a process that is gone, or one that cannot be read, is taken over', async (t) => {
  const dir = t.testdir()
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 4321, startedAt: '2026-01-01T00:00:00Z', command: 'omni up' }))
  const lock = await lockDataFolder(dir)
  t.match(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')), { pid: process.pid })
  await lock.release()
  await writeFile(join(dir, LOCK_FILE), '{"pid":')
  const second = await lockDataFolder(dir)
  await second.release()
})
