import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { createIsolateRuntime, type IsolateRuntime } from '../../src/sandbox/isolate/runtime.ts'
import type { PluginOutput } from '../../src/sandbox/types.ts'
import { ALLOCATES, BUSY_LOOP, dataOf, DOUBLE, kindOf, NEVER_RESOLVES, pluginCode, SPINS, testInputs } from '../fixtures/sandbox-plugins.ts'

// Plugins that hang, exhaust memory, or lose their process: the worker survives each one.
t.setTimeout(90_000)

/** Whether a process runs (a zombie, dead but not reaped yet, does not). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // the state follows the parenthesised command name in /proc/<pid>/stat
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

function pidOf(runtime: IsolateRuntime): number {
  const pid = runtime.pid()
  if (pid === undefined) throw new Error('no isolate process')
  return pid
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Whether a process is gone within 2 s (a killed child lingers until its parent reaps it). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(50)
  return !isAlive(pid)
}
const ns = (outputs: readonly PluginOutput[]) => outputs.map((o) => dataOf(o)?.['n'] ?? kindOf(o))

t.test('while(true){} times out; the other events of the batch still succeed; the next batch works', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const plugin = await runtime.load(pluginCode('acme.busy', BUSY_LOOP, { timeoutMs: 300 }))
  const pid = pidOf(runtime)
  const started = Date.now()
  const outputs = await plugin.run(testInputs(5, (i) => ({ hang: i === 2 })))
  t.same(ns(outputs), [0, 1, 'timeout', 3, 4], 'only the looping event failed (the batch was rerun event by event)')
  t.same(outputs[2], { type: 'error', kind: 'timeout', message: 'plugin exceeded its time limit of 300 ms' })
  t.ok(Date.now() - started < 5000, `bounded: ${Date.now() - started} ms for the batch and its rerun`)
  t.same(ns(await plugin.run(testInputs(4))), [0, 1, 2, 3], 'the next batch works in a fresh isolate')
  t.equal(runtime.pid(), pid, 'the isolate was replaced, not the process')
  t.ok(isAlive(process.pid) && isAlive(pid))
})

t.test('a promise that never settles times out', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const plugin = await runtime.load(pluginCode('acme.never', NEVER_RESOLVES, { timeoutMs: 300 }))
  t.same(ns(await plugin.run(testInputs(3, (i) => ({ hang: i === 0 })))), ['timeout', 1, 2])
  t.same(ns(await plugin.run(testInputs(2, () => ({ hang: true })))), ['timeout', 'timeout'])
  t.same(ns(await plugin.run(testInputs(2))), [0, 1], 'the next batch works')
})

t.test('allocation without bound fails with memory; the host lives; the next call works', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const plugin = await runtime.load(pluginCode('acme.hog', ALLOCATES, { memoryMb: 16, timeoutMs: 10_000 }))
  const neighbour = await runtime.load(pluginCode('acme.double', DOUBLE))
  const pid = pidOf(runtime)
  const outputs = await plugin.run(testInputs(3, (i) => ({ hog: i === 1 })))
  t.same(ns(outputs), [0, 'memory', 2])
  t.same(outputs[1], { type: 'error', kind: 'memory', message: 'plugin exceeded its memory limit of 16 MiB' })
  t.same(ns(await plugin.run(testInputs(3))), [0, 1, 2], 'the next call works in a fresh isolate')
  t.same(ns(await neighbour.run(testInputs(2))), [0, 2], "another plugin's isolate was not affected")
  t.equal(runtime.pid(), pid, 'the process survived')
})

t.test('the process killed in the middle of a batch: crashed or rerun, then a new process', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const spins = await runtime.load(pluginCode('acme.spins', SPINS, { timeoutMs: 10_000 }))
  const double = await runtime.load(pluginCode('acme.double', DOUBLE))
  const first = pidOf(runtime)

  // one event: nothing to rerun, so the crash is its outcome
  const lone = spins.run(testInputs(1, () => ({ spinMs: 3000 })))
  await sleep(300)
  process.kill(first, 'SIGKILL')
  const [crashed] = await lone
  t.match(crashed, { type: 'error', kind: 'crashed', message: /isolate process exited \(killed by SIGKILL/ })
  t.ok(await gone(first), 'the old process is gone')

  const after = await spins.run(testInputs(2))
  t.same(ns(after), [0, 1], 'the next call works')
  const second = pidOf(runtime)
  t.not(second, first, 'in a new process')
  t.same(ns(await double.run(testInputs(2))), [0, 2], 'every plugin was loaded again from the code kept')

  // several events: the batch fails as a whole, then each event is rerun in the next process
  const batch = spins.run(testInputs(6, () => ({ spinMs: 150 })))
  await sleep(250)
  process.kill(second, 'SIGKILL')
  const outputs = await batch
  t.equal(outputs.length, 6)
  for (const [i, o] of outputs.entries()) t.ok(dataOf(o)?.['n'] === i || kindOf(o) === 'crashed', `event ${i}: succeeded on rerun or crashed`)
  const third = pidOf(runtime)
  t.not(third, second, 'a third process')
  t.same(ns(await spins.run(testInputs(3))), [0, 1, 2])
})

t.test('the watchdog kills a process that stops answering', async (t) => {
  const runtime = createIsolateRuntime({ watchdogGraceMs: 300 })
  t.teardown(() => runtime.close())
  const plugin = await runtime.load(pluginCode('acme.spins', SPINS, { timeoutMs: 300 }))
  const pid = pidOf(runtime)
  const pending = plugin.run(testInputs(1, () => ({ spinMs: 100 })))
  process.kill(pid, 'SIGSTOP')
  const started = Date.now()
  const [output] = await pending
  t.match(output, { type: 'error', kind: 'timeout', message: /did not answer within 900 ms and was killed/ })
  t.ok(Date.now() - started < 5000, 'within the watchdog bound')
  t.ok(await gone(pid), 'the stopped process was killed')
  t.same(ns(await plugin.run(testInputs(2))), [0, 1], 'the next call works in a new process')
  t.not(runtime.pid(), pid)
})

t.test('close() with calls in flight: they finish or are refused, close resolves, nothing is left', async (t) => {
  const runtime = createIsolateRuntime({ closeTimeoutMs: 1000 })
  t.teardown(() => runtime.close())
  const quick = await runtime.load(pluginCode('acme.quick', SPINS, { timeoutMs: 10_000 }))
  const slow = await runtime.load(pluginCode('acme.slow', SPINS, { timeoutMs: 10_000 }))
  const pid = pidOf(runtime)
  const finishing = Promise.all([quick.run(testInputs(2, () => ({ spinMs: 100 }))), quick.run(testInputs(2, () => ({ spinMs: 100 })))])
  // its handlers attached now: it may settle before close() resolves
  const cut = slow.run(testInputs(3, () => ({ spinMs: 2000 }))).then(
    (outputs) => ({ outputs }),
    (err: unknown) => ({ err }),
  )
  await sleep(50)
  const started = Date.now()
  const closing = runtime.close()
  t.equal(runtime.close(), closing, 'close() is idempotent')
  await t.rejects(quick.run(testInputs(1)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' }, 'no new batch once closing')
  await closing
  t.ok(Date.now() - started < 4000, `close() is bounded: ${Date.now() - started} ms`)

  for (const outputs of await finishing) t.same(ns(outputs), [0, 1], 'calls that fit in the drain finished')
  const settled = await cut
  t.ok('err' in settled && hasCode(settled.err, 'OMNI_ERR_SANDBOX_UNAVAILABLE'), 'a call cut short by close() is refused, not left hanging')
  t.equal(runtime.state(), 'closed')
  t.equal(runtime.pid(), undefined)
  t.ok(await gone(pid), 'the isolate process is gone')
  await t.resolves(runtime.closed())
  await t.rejects(slow.run(testInputs(1)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
  await t.rejects(runtime.load(pluginCode('acme.late', DOUBLE)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
})

t.test('the isolate process exits when the worker dies', async (t) => {
  const runtime = new URL('../../src/sandbox/isolate/runtime.ts', import.meta.url).href
  const code = `
    import { createIsolateRuntime } from ${JSON.stringify(runtime)}
    const runtime = createIsolateRuntime()
    const limits = { memoryMb: 16, timeoutMs: 1000, cpus: 1, pids: 1 }
    await runtime.load({ id: 'acme.orphan', version: '1', dir: '/nonexistent', main: 'main.js', source: 'function stage() {}', limits })
    process.stdout.write(runtime.pid() + '\\n')
    setInterval(() => {}, 1000)
  `
  const worker = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    worker.kill('SIGKILL')
  })
  const line = await new Promise<string>((resolve, reject) => {
    worker.stdout.setEncoding('utf8')
    worker.stdout.once('data', resolve)
    worker.once('exit', (c) => reject(new Error(`the worker exited early (${c})`)))
  })
  const pid = Number(line.trim())
  t.ok(Number.isInteger(pid) && isAlive(pid), 'the worker started an isolate process')
  worker.kill('SIGKILL')
  t.ok(await gone(pid), 'the orphaned isolate process exited on its own')
})
