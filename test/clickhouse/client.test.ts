import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openClickHouse } from '../../src/clickhouse/client.ts'
import { toClickHouseTime } from '../../src/clickhouse/time.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { isOmniError } from '../../src/errors/mod.ts'

t.test('a ClickHouse server that cannot be reached: OMNI_ERR_CLICKHOUSE_UNAVAILABLE naming where', async (t) => {
  // port 1 on loopback: nothing listens there, the connection is refused at once
  const config = resolveClickHouseConfig({ url: 'http://127.0.0.1:1' })
  const err = await openClickHouse(config).then(() => undefined, (e: unknown) => e)
  t.ok(isOmniError(err) && err.code === 'OMNI_ERR_CLICKHOUSE_UNAVAILABLE', 'the error code says unavailable')
  t.match(String((err as Error).message), /127\.0\.0\.1:1/)
})

t.test('an embedded data folder held by another process: OMNI_ERR_CLICKHOUSE_LOCKED with the fix', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-ch-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const holder = `
    import { openClickHouse } from ${JSON.stringify(new URL('../../src/clickhouse/client.ts', import.meta.url).pathname)}
    import { resolveClickHouseConfig } from ${JSON.stringify(new URL('../../src/clickhouse/config.ts', import.meta.url).pathname)}
    const ch = await openClickHouse(resolveClickHouseConfig({ dataDir: ${JSON.stringify(dir)} }))
    process.stdout.write('holding\\n')
    process.stdin.on('data', async () => { await ch.close(); process.exit(0) })
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', holder], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => c.toString().includes('holding') && resolve())
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)))
  })
  const err = await openClickHouse(resolveClickHouseConfig({ dataDir: dir })).then(() => undefined, (e: unknown) => e)
  t.ok(isOmniError(err) && err.code === 'OMNI_ERR_CLICKHOUSE_LOCKED', 'the error code says locked')
  t.match(String((err as Error).message), /another process holds it.*OMNI_CLICKHOUSE_URL/s, 'the message names the fix')
  child.stdin.write('close\n')
  await new Promise((r) => child.once('exit', r))
})

t.test('times become the DateTime64(3) text form, in UTC', async (t) => {
  t.equal(toClickHouseTime('2026-11-22T04:00:00.123456789Z'), '2026-11-22 04:00:00.123')
  t.equal(toClickHouseTime(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), '2026-01-02 03:04:05.006')
  // the last millisecond is remembered: alternating and repeated inputs still get their own text
  const a = Date.UTC(2026, 11, 7, 16, 0, 0, 1)
  for (const [ms, text] of [[a, '2026-12-07 16:00:00.001'], [a, '2026-12-07 16:00:00.001'], [a + 1, '2026-12-07 16:00:00.002'], [a, '2026-12-07 16:00:00.001']] as const) t.equal(toClickHouseTime(ms), text)
  t.throws(() => toClickHouseTime(Number.NaN), RangeError, 'an invalid time is refused, not given the last text')
})
