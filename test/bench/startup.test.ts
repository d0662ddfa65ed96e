import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { BenchReport } from '../../bench/report.ts'
import { runBench } from '../../bench/run.ts'

// A smoke test of the startup scenario: the real `omni up` started, found ready and stopped, once
// without ClickHouse and once with the embedded engine. Timing is never checked.

t.test('startup --quick starts omni up to ready once per row, reports a positive time, stops it cleanly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'omni-startup-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const jsonPath = join(dir, 'bench.json')
  await runBench({ quick: true, only: ['startup'], json: jsonPath })
  const report = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchReport
  t.same(report.failures, [], 'the scenario did not fail')
  t.same(
    report.scenarios.map((r) => r.id),
    ['startup', 'startup.clickhouse'],
    'one row without ClickHouse, one with the embedded engine',
  )
  for (const r of report.scenarios) {
    const d = r.details as { skipped?: boolean; reason?: string; runs: number; readyMs: number[]; bannerMs: (number | null)[]; exitCodes: (number | null)[]; killed: number; targetSeconds: number; loadAverage: number[] }
    if (d.skipped === true) {
      // only the engine may be missing (a build without the chdb package), and the row says why
      t.equal(r.id, 'startup.clickhouse', `${r.id} skipped: ${d.reason}`)
      t.match(r.notes, /^skipped: .*(chdb|ClickHouse)/)
      continue
    }
    t.equal(d.runs, 1, `${r.id}: one run in --quick`)
    t.ok(r.events === 1 && r.seconds > 0 && r.rate > 0, `${r.id}: ready after ${r.seconds} s`)
    t.ok(d.readyMs.length === 1 && d.readyMs.every((ms) => ms > 0), `${r.id}: a positive time to ready`)
    t.ok(d.bannerMs.every((ms) => ms !== null && ms > 0), `${r.id}: the banner was printed`)
    t.same(d.exitCodes, [0], `${r.id}: omni up exited 0 on SIGTERM`)
    t.equal(d.killed, 0, `${r.id}: nothing had to be killed`)
    t.match(r.notes, new RegExp(`target ≤ ${d.targetSeconds} s in every run: (met|MISSED)`), `${r.id}: the target is printed with its verdict`)
    t.equal(d.loadAverage.length, 3, 'the load average at the time is kept with the figure')
  }
})
