import { createServer } from 'node:net'
import t from 'tap'
import { createIsolateRuntime } from '../../src/sandbox/isolate/runtime.ts'
import { dataOf, FILESYSTEM, kindOf, NETWORK, pluginCode, PROBE_GLOBALS, PROTOTYPE_ESCAPE, TAMPERS, testInputs } from '../fixtures/sandbox-plugins.ts'

// Hostile plugins: what they try must fail inside the isolate, and leave the host as it was.
t.setTimeout(60_000)

const runtime = createIsolateRuntime()
t.teardown(() => runtime.close())

t.test('the network is not reachable: fetch, require, import(), WebSocket', async (t) => {
  const server = createServer((socket) => {
    connections++
    socket.destroy()
  })
  let connections = 0
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as { port: number }).port

  const plugin = await runtime.load(pluginCode('acme.network', NETWORK))
  const vias = ['fetch', 'require', 'import', 'websocket']
  const outputs = await plugin.run(testInputs(vias.length, (i) => ({ via: vias[i], port })))
  t.same(outputs.map(kindOf), ['threw', 'threw', 'threw', 'threw'], 'every attempt failed inside the isolate')
  t.match(outputs[0], { message: /ReferenceError: fetch is not defined/ })
  t.match(outputs[1], { message: /ReferenceError: require is not defined/ })
  t.match(outputs[2], { message: /not supported/i })
  t.match(outputs[3], { message: /ReferenceError: WebSocket is not defined/ })
  await new Promise((r) => setTimeout(r, 100))
  t.equal(connections, 0, 'nothing connected to the listening loopback port')
})

t.test('the filesystem is not reachable: require, import(), process.binding', async (t) => {
  const plugin = await runtime.load(pluginCode('acme.files', FILESYSTEM))
  const vias = ['require', 'import', 'binding']
  const outputs = await plugin.run(testInputs(vias.length, (i) => ({ via: vias[i], path: '/etc/passwd' })))
  t.same(outputs.map(kindOf), ['threw', 'threw', 'threw'])
  t.match(outputs[0], { message: /require is not defined/ })
  t.match(outputs[1], { message: /not supported/i })
  t.match(outputs[2], { message: /process is not defined/ })
  t.notOk(JSON.stringify(outputs).includes('root:'), 'no file content came back')
})

t.test('process and the other host objects do not exist in the isolate', async (t) => {
  const plugin = await runtime.load(pluginCode('acme.probe', PROBE_GLOBALS))
  const [output] = await plugin.run(testInputs(1))
  t.same(dataOf(output), { process: 'undefined', seen: [] })
})

t.test('prototype escapes reach no host: errors or an undefined process, host globals untouched', async (t) => {
  const plugin = await runtime.load(pluginCode('acme.escape', PROTOTYPE_ESCAPE))
  const vias = ['this', 'object', 'async', 'stack', 'pollute']
  const outputs = await plugin.run(testInputs(vias.length, (i) => ({ via: vias[i] })))
  for (const [i, via] of vias.slice(0, 3).entries()) {
    t.same(outputs[i], { type: 'error', kind: 'threw', message: 'ReferenceError: process is not defined' }, `${via}: the Function constructor builds code in the isolate's realm`)
  }
  t.same(dataOf(outputs[3]), { process: 'undefined', via: 'stack' }, 'stack frames hold no host object')
  t.same(dataOf(outputs[4]), { process: 'undefined', via: 'pollute' })
  const host = globalThis as Record<string, unknown>
  t.equal(host['omniPwned'], undefined, "the host's global object is untouched")
  t.equal(({} as Record<string, unknown>)['omniPolluted'], undefined, "the host's Object.prototype is untouched")
  t.equal(([] as unknown as Record<string, unknown>)['omniPolluted'], undefined, "the host's Array.prototype is untouched")
  t.equal(typeof process.pid, 'number')

  const after = await plugin.run(testInputs(1, () => ({ via: 'none' })))
  t.same(dataOf(after[0]), { process: 'undefined', via: 'none' }, 'the plugin still runs after polluting its own realm')
})

t.test("tampering with JSON, Promise and array globals does not break the next batches' results", async (t) => {
  const plugin = await runtime.load(pluginCode('acme.tamper', TAMPERS))
  const first = await plugin.run(testInputs(5, (i) => ({ tamper: i === 2 })))
  t.same(first, [
    { type: 'continue', data: { n: 0 } },
    { type: 'continue', data: { n: 2 } },
    { type: 'drop', reason: 'tampered' },
    { type: 'continue', data: { n: 6 } },
    { type: 'continue', data: { n: 8 } },
  ])
  for (const round of [1, 2]) {
    const outputs = await plugin.run(testInputs(20))
    t.same(
      outputs.map((o) => dataOf(o)?.['n']),
      Array.from({ length: 20 }, (_, i) => i * 2),
      `batch ${round + 1} after the tampering: every event correct and in order`,
    )
  }
})
