import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { formatProfileSummaries, groupOf, parseCpuProfile, readCpuProfile, summarizeProfile, type CpuProfile, type ProfileSummary } from '../../bench/lib/profile-summary.ts'
import { runBench } from '../../bench/run.ts'
import { omni } from '../fixtures/cli.ts'

// `omni bench --profile`: real profiles of a real quick run (the worker in this process against a
// real nats-server), read back by the summary. Timing is never checked, only that time was seen.

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-profile-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('--profile writes a V8 profile per Omni worker row whose summary names src/ code', async (t) => {
  const dir = join(await tempDir(t), 'profiles')
  const run = await runBench({ quick: true, events: 3000, only: ['pipeline-e2e'], json: false, profile: dir })
  t.same(run.report.failures, [], 'the scenario ran')
  t.equal(run.profiles?.dir, dir, 'the profiles went where asked')
  t.equal(run.report.settings.profileDir, dir, 'the report says the run was profiled')

  const files = (await readdir(dir)).sort()
  t.same(files, ['pipeline-e2e.cpuprofile', 'pipeline-e2e.no-stages.cpuprofile', 'pipeline-e2e.single-filter.cpuprofile', 'summary.json'], 'the three Omni worker rows, not the hand-written ones')

  const profile = await readCpuProfile(join(dir, 'pipeline-e2e.cpuprofile'))
  t.ok(profile.nodes.length > 0 && profile.samples.length > 0, `a V8 profile with ${profile.samples.length} samples`)
  const row = run.report.scenarios.find((r) => r.id === 'pipeline-e2e')
  t.ok(row && row.events > 0, 'the profiled row settled events')
  const summary = summarizeProfile(profile, { rowId: 'pipeline-e2e', events: row?.events ?? 0, top: 1000 })
  const ours = summary.functions.filter((f) => / src\/\S+\.ts:\d+$/.test(f.name) && f.selfMs > 0)
  t.ok(ours.length > 0, `src/ functions with self time: ${ours.slice(0, 3).map((f) => f.name).join(', ')}`)
  t.ok(summary.groups.some((g) => g.name === 'src/pipeline' && g.usPerEvent > 0), 'the pipeline folder is a group with a cost per event')
  t.match(row?.details['profile'], { file: join(dir, 'pipeline-e2e.cpuprofile') }, 'the row points at its profile')
  t.match(row?.notes, /under the CPU profiler/, 'the row says it ran profiled')

  const written = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as ProfileSummary[]
  t.same(
    written.map((s) => s.rowId),
    ['pipeline-e2e', 'pipeline-e2e.single-filter', 'pipeline-e2e.no-stages'],
  )
  t.same(written, run.profiles?.summaries, 'the JSON beside the profiles is what the run returned')
  t.match(formatProfileSummaries(written), /profile pipeline-e2e: \d+ events/, 'the printed summary names the row')
})

t.test('the CLI flag: omni bench --only pipeline-e2e --quick --profile <dir> prints the summary and writes it', async (t) => {
  const tmp = await tempDir(t)
  const dir = join(tmp, 'cli-profiles')
  const res = await omni(['bench', '--only', 'pipeline-e2e', '--quick', '--events', '500', '--json', join(tmp, 'bench.json'), '--profile', dir], { timeoutMs: 60_000 })
  t.equal(res.code, 0, res.stderr.slice(-500))
  t.match(res.stdout, /profile pipeline-e2e: 500 events/, 'the summary follows the table')
  t.match(res.stdout, / µs\/ev .* src\/pipeline\n/, 'the groups name the pipeline folder')
  t.match(res.stdout, `profiles written to ${dir}`)
  parseCpuProfile(await readFile(join(dir, 'pipeline-e2e.cpuprofile'), 'utf8'), 'pipeline-e2e.cpuprofile')
  t.pass('the written file parses as a V8 profile')
})

t.test('without --profile nothing is profiled', async (t) => {
  const run = await runBench({ quick: true, events: 200, only: ['pipeline-e2e'], json: false })
  t.equal(run.profiles, undefined)
  t.equal(run.report.settings.profileDir, undefined)
  t.equal(run.report.scenarios.find((r) => r.id === 'pipeline-e2e')?.details['profile'], undefined)
})

t.test('an empty --profile folder is refused by name', async (t) => {
  await t.rejects(runBench({ profile: ' ', json: false }), { message: /invalid bench options/, problems: [{ where: 'profile' }] })
})

t.test('self time: each sample owns the time up to the next; idle is no cost', (t) => {
  const frame = (id: number, functionName: string, url: string, lineNumber = 0) => ({ id, callFrame: { functionName, url, lineNumber } })
  const repo = new URL('../../src/pipeline/worker.ts', import.meta.url).href
  const p: CpuProfile = {
    nodes: [
      { ...frame(1, '(root)', ''), children: [2, 4, 5] },
      { ...frame(2, 'run', repo, 9), children: [3, 6] },
      frame(3, 'findKeys', 'file:///x/node_modules/@nats-io/nats-core/lib/headers.js', 172),
      frame(4, '(idle)', ''),
      frame(5, '(garbage collector)', ''),
      { ...frame(6, 'writeGeneric', 'node:internal/stream_base_commons', 92), children: [7] },
      frame(7, 'writeBuffer', ''),
    ],
    startTime: 1000,
    // samples at 1000, 1100, 1400, 1500, 1900, 1950; the profile ends at 2000
    samples: [2, 3, 2, 4, 5, 7],
    timeDeltas: [0, 100, 300, 100, 400, 50],
    endTime: 2000,
  }
  const s = summarizeProfile(p, { rowId: 'x', events: 10 })
  const fn = (name: string) => s.functions.find((f) => f.name === name)
  // run: 100 + 100; findKeys: 300; idle: 400 (left out); GC: 50; writeBuffer: 50 → busy 600 µs
  t.equal(s.busyMs, 0.6)
  t.equal(s.busyUsPerEvent, 60)
  t.match(fn('writeBuffer ← run src/pipeline/worker.ts:10'), { selfMs: 0.05 }, 'a native frame is named with its caller outside node:internal')
  t.match(fn('run src/pipeline/worker.ts:10'), { selfMs: 0.2, usPerEvent: 20 })
  t.match(fn('findKeys node_modules/@nats-io/nats-core/lib/headers.js:173'), { selfMs: 0.3, usPerEvent: 30, share: 0.5 })
  t.notOk(s.functions.some((f) => f.name === '(idle)'), 'idle is not a cost')
  t.same(
    s.groups.map((g) => g.name),
    ['node_modules/@nats-io/nats-core', 'src/pipeline', '(garbage collector)', '(native)'],
  )
  t.end()
})

t.test('groups name the package or folder', (t) => {
  t.equal(groupOf('x', 'file:///a/b/node_modules/fastify/lib/route.js'), 'node_modules/fastify')
  t.equal(groupOf('x', 'file:///a/node_modules/@nats-io/jetstream/lib/jsmsg.js'), 'node_modules/@nats-io/jetstream')
  t.equal(groupOf('x', 'node:internal/streams/writable'), 'node:internal')
  t.equal(groupOf('x', 'node:buffer'), 'node:buffer')
  t.equal(groupOf('writeBuffer', ''), '(native)')
  t.equal(groupOf('(program)', ''), '(program)')
  t.equal(groupOf('x', new URL('../../bench/lib/worker.ts', import.meta.url).href), 'bench/lib')
  t.end()
})

t.test('a file that is no V8 profile says what is wrong with it', (t) => {
  t.throws(() => parseCpuProfile('{', 'a.cpuprofile'), /a\.cpuprofile: not JSON/)
  t.throws(() => parseCpuProfile('[]', 'a.cpuprofile'), /not a V8 CPU profile \(no "nodes" array\)/)
  t.throws(() => parseCpuProfile('{"nodes":[],"samples":[1],"timeDeltas":[],"startTime":0,"endTime":1}', 'a.cpuprofile'), /"samples" and "timeDeltas" differ/)
  t.end()
})
