import { readFile } from 'node:fs/promises'
import t from 'tap'
import { createIsolateRuntime } from '../../src/sandbox/isolate/runtime.ts'
import {
  dataOf,
  DOUBLE,
  INVALID_RESULT,
  kindOf,
  NO_STAGE,
  pluginCode,
  SYNTAX_ERROR,
  testInputs,
  THROWS_AT_LOAD,
  THROWS_SOMETIMES,
} from '../fixtures/sandbox-plugins.ts'

t.setTimeout(60_000)

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Shared libraries loaded into this (the worker's) process. */
function sharedObjects(): string[] {
  return (process.report.getReport() as { sharedObjects?: string[] }).sharedObjects ?? []
}

t.test('no isolate process exists before the first load, and close() without one is clean', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  await new Promise((r) => setTimeout(r, 200))
  t.equal(runtime.pid(), undefined)
  t.equal(runtime.state(), 'idle')
  await runtime.close()
  t.equal(runtime.state(), 'closed')
  t.equal(runtime.pid(), undefined)
  await t.resolves(runtime.closed())
  await t.rejects(runtime.load(pluginCode('acme.late', DOUBLE)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
})

t.test('a batch of 100 events goes across in one call; outputs in order; inputs are copies', async (t) => {
  const secret = 'nats://user:secret@127.0.0.1:4222'
  const before = process.env['NATS_URL']
  process.env['NATS_URL'] = secret
  t.teardown(() => {
    if (before === undefined) delete process.env['NATS_URL']
    else process.env['NATS_URL'] = before
  })
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  t.equal(runtime.pid(), undefined, 'nothing started by createIsolateRuntime()')

  const plugin = await runtime.load(pluginCode('acme.double', DOUBLE))
  t.equal(plugin.runtime, 'isolate')
  t.equal(plugin.id, 'acme.double')
  const pid = runtime.pid()
  if (pid === undefined) throw new Error('no isolate process after load')
  t.ok(isAlive(pid), 'the isolate process runs')
  t.equal(runtime.state(), 'running')

  const inputs = testInputs(100)
  const outputs = await plugin.run(inputs)
  t.equal(outputs.length, 100)
  t.same(
    outputs.map((o) => dataOf(o)?.['n']),
    inputs.map((_, i) => i * 2),
    'every event transformed, in order',
  )
  t.same(outputs[7], { type: 'continue', data: { n: 14, batch: 1 }, labels: { seen: 'test' } })
  t.same(new Set(outputs.map((o) => dataOf(o)?.['batch'])), new Set([1]), 'all 100 events in one call')
  t.notOk('mutated' in (inputs[0]?.event.data ?? {}), "the plugin changed its copy, not the host's input")

  const again = await plugin.run(testInputs(3))
  t.same(
    again.map((o) => dataOf(o)?.['batch']),
    [2, 2, 2],
    'the next batch is the next call',
  )
  t.equal(runtime.pid(), pid, 'the same process serves the next batch')
  t.same(await plugin.run([]), [], 'an empty batch needs no call')

  t.notOk(
    sharedObjects().some((so) => so.includes('isolated-vm')),
    'the worker process never loads isolated-vm',
  )
  const environ = await readFile(`/proc/${pid}/environ`, 'utf8')
  t.notOk(environ.includes('secret'), 'the isolate process does not get the NATS URL or its credentials')
  // what tap's process tracking adds to every child it sees is not the runtime's doing
  const harness = (entry: string) => entry.startsWith('_TAPJS_') || entry.startsWith('NODE_CHANNEL_') || /^NODE_OPTIONS="?--import=\S+@tapjs\/processinfo\S+"?$/.test(entry)
  const names = environ
    .split('\0')
    .filter((e) => e !== '' && !harness(e))
    .map((e) => e.slice(0, e.indexOf('=')))
  t.same(names.filter((n) => !['TZ', 'LANG', 'LC_ALL'].includes(n)), [], 'an explicit minimal environment, not process.env')
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
  t.ok(cmdline.includes('--no-node-snapshot'), 'started with --no-node-snapshot')
})

t.test('load rejects plugins that cannot run, with a clear message, and the runtime goes on', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  await t.rejects(runtime.load(pluginCode('acme.nostage', NO_STAGE)), {
    code: 'OMNI_ERR_PLUGIN_FAILED',
    message: /acme\.nostage.*declares no function `stage\(input\)`/,
  })
  await t.rejects(runtime.load(pluginCode('acme.syntax', SYNTAX_ERROR)), {
    code: 'OMNI_ERR_PLUGIN_FAILED',
    message: /SyntaxError: .*plugin:acme\.syntax\/main\.js:4:\d+/,
    permanent: true,
  })
  await t.rejects(runtime.load(pluginCode('acme.throws', THROWS_AT_LOAD)), { code: 'OMNI_ERR_PLUGIN_FAILED', message: /refusing to start/ })
  await t.rejects(runtime.load(pluginCode('acme.spins', 'while (true) {}\nfunction stage() {}', { timeoutMs: 200 })), {
    code: 'OMNI_ERR_PLUGIN_FAILED',
    message: /top-level code exceeded the time limit of 200 ms/,
  })
  await t.rejects(runtime.load(pluginCode('acme.tiny', DOUBLE, { memoryMb: 4 })), {
    code: 'OMNI_ERR_CONFIG',
    problems: [{ where: 'limits.memoryMb' }],
  })
  const pid = runtime.pid()
  const plugin = await runtime.load(pluginCode('acme.double', DOUBLE))
  t.same(dataOf((await plugin.run(testInputs(1)))[0]), { n: 0, batch: 1 })
  t.equal(runtime.pid(), pid, 'failed loads did not cost the process')
})

t.test('a plugin that throws for one event fails that event only', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const plugin = await runtime.load(pluginCode('acme.throws', THROWS_SOMETIMES))
  const outputs = await plugin.run(testInputs(10, (i) => ({ fail: i === 3 || i === 7, drop: i === 5, orphan: i === 8 })))
  t.same(outputs[3], { type: 'error', kind: 'threw', message: 'TypeError: cannot handle evt-3' })
  t.same(outputs[7], { type: 'error', kind: 'threw', message: 'TypeError: cannot handle evt-7' })
  t.same(outputs[5], { type: 'drop', reason: 'not interesting' })
  // isolated-vm fails a whole call over a rejection nobody handled; the rerun pins it on event 8
  t.match(outputs[8], { type: 'error', kind: 'threw', message: /rejected promise nobody handled.*left behind by evt-8/ })
  for (const i of [0, 1, 2, 4, 6, 9]) t.same(outputs[i], { type: 'continue', data: { n: i + 1 } }, `event ${i} succeeded`)
})

t.test('a result of the wrong shape is an invalid-result failure of that event', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const plugin = await runtime.load(pluginCode('acme.invalid', INVALID_RESULT))
  const shapes = ['unknown-type', 'data-not-object', 'extra-field', 'function', 'bigint', 'cycle', 'bad-emit', 'nothing', 'fine']
  const outputs = await plugin.run(testInputs(shapes.length, (i) => ({ shape: shapes[i] })))
  const byShape = Object.fromEntries(shapes.map((s, i) => [s, outputs[i]]))
  for (const shape of shapes.slice(0, 7)) t.equal(kindOf(byShape[shape]), 'invalid-result', `${shape} is invalid`)
  t.match(byShape['function'], { message: /stage returned a function/ })
  t.match(byShape['bigint'], { message: /not serializable as JSON.*BigInt/ })
  t.match(byShape['cycle'], { message: /not serializable as JSON.*circular/i })
  t.match(byShape['bad-emit'], { message: /\$result\.emit\[0\]\.event/ })
  t.match(byShape['unknown-type'], { message: /^invalid result: \$result/ })
  t.same(byShape['nothing'], { type: 'continue' }, 'returning nothing continues unchanged')
  t.same(byShape['fine'], { type: 'continue' })
})

t.test('a closed instance refuses batches; the runtime and other plugins go on', async (t) => {
  const runtime = createIsolateRuntime()
  t.teardown(() => runtime.close())
  const first = await runtime.load(pluginCode('acme.double', DOUBLE))
  const second = await runtime.load(pluginCode('acme.double', DOUBLE))
  await first.close()
  await first.close()
  await t.rejects(first.run(testInputs(1)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE', message: /acme\.double was closed/ })
  t.same(dataOf((await second.run(testInputs(2)))[1]), { n: 2, batch: 1 }, 'the same plugin loaded twice has isolates of its own')
  t.equal(runtime.state(), 'running')
})

t.test('invalid runtime options are reported together, by name', async (t) => {
  t.throws(() => createIsolateRuntime({ restartMinMs: -1, closeTimeoutMs: 1.5 }), {
    code: 'OMNI_ERR_CONFIG',
    problems: [{ where: 'restartMinMs' }, { where: 'closeTimeoutMs' }],
  })
  t.throws(() => createIsolateRuntime({ restartMinMs: 500, restartMaxMs: 100 }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'restartMaxMs' }] })
})
