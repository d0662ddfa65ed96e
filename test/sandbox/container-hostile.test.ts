import { lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { containerPlugin, execNode, testDocker, testRuntime } from '../fixtures/docker.ts'
import { dataOf, DOUBLE, FILESYSTEM, kindOf, NETWORK, PROBE_GLOBALS, PROTOTYPE_ESCAPE, TAMPERS, testInputs } from '../fixtures/sandbox-plugins.ts'

// Hostile plugins in real containers: what they try fails in the runner's vm, and what a
// plugin that escaped the vm could do (a process in its container) cannot reach the host.
t.setTimeout(120_000)

const env = await testDocker(t)
if (env) {
  const { docker } = env
  const runtime = await testRuntime(t, env)

  /** A TCP server on every host address that counts who connects. */
  async function listener(t: Test) {
    let connections = 0
    const server = createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve))
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
    return { port: (server.address() as { port: number }).port, connections: () => connections }
  }

  t.test('the network: unreachable from the vm, and from the container itself', async (t) => {
    const server = await listener(t)
    const plugin = await runtime.load(containerPlugin(env, 'acme.network', NETWORK))
    const vias = ['fetch', 'require', 'import', 'websocket']
    const outputs = await plugin.run(testInputs(vias.length, (i) => ({ via: vias[i], port: server.port })))
    t.same(outputs.map(kindOf), ['threw', 'threw', 'threw', 'threw'], 'no network API exists in the vm')
    t.match(outputs[0], { message: /fetch is not defined/ })
    t.match(outputs[1], { message: /require is not defined/ })

    // the host's own addresses: loopback (in the container, that is its own lo) and the others
    const hosts = ['127.0.0.1', ...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address))]
    const escaped = await execNode(
      docker,
      plugin.containerId()!,
      `const net = require('net')
       const hosts = ${JSON.stringify(hosts)}
       const tcp = (host) => new Promise((resolve) => {
         const s = net.connect(${server.port}, host, () => { s.destroy(); resolve('connected') })
         s.on('error', (e) => resolve(e.code))
         s.setTimeout(1000, () => { s.destroy(); resolve('timeout') })
       })
       const web = (host) => fetch('http://' + host + ':${server.port}/', { signal: AbortSignal.timeout(1000) }).then(() => 'connected', (e) => String(e.cause?.code ?? e.name))
       ;(async () => {
         const out = {}
         for (const h of hosts) out[h] = [await tcp(h), await web(h)]
         out.dns = await new Promise((r) => require('dns').lookup('example.org', (e) => r(e ? e.code : 'resolved')))
         console.log(JSON.stringify(out))
       })()`,
    )
    t.equal(escaped.exitCode, 0, escaped.stderr)
    const attempts = JSON.parse(escaped.stdout) as Record<string, string[] | string>
    for (const host of hosts) {
      t.notOk((attempts[host] as string[]).includes('connected'), `${host}: ${String(attempts[host])}`)
    }
    t.not(attempts['dns'], 'resolved', `name lookups fail: ${String(attempts['dns'])}`)
    await new Promise((r) => setTimeout(r, 100))
    t.equal(server.connections(), 0, "the host's listening port saw no connection")
  })

  t.test('the filesystem: unreachable from the vm; from the container, read-only and without host files', async (t) => {
    const plugin = await runtime.load(containerPlugin(env, 'acme.files', FILESYSTEM))
    const vias = ['require', 'import', 'binding']
    const outputs = await plugin.run(testInputs(vias.length, (i) => ({ via: vias[i], path: '/etc/passwd' })))
    t.same(outputs.map(kindOf), ['threw', 'threw', 'threw'])

    const dir = await mkdtemp(join(tmpdir(), 'omni-host-secret-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const secret = join(dir, 'secret.txt')
    await writeFile(secret, 'host secret')
    const escaped = await execNode(
      docker,
      plugin.containerId()!,
      `const fs = require('fs')
       const { execFileSync } = require('child_process')
       const attempt = (fn) => { try { fn(); return 'ok' } catch (e) { return e.code } }
       console.log(JSON.stringify({
         writeRoot: attempt(() => fs.writeFileSync('/pwned', 'x')),
         writePlugin: attempt(() => fs.writeFileSync('/plugin/entry.js', 'x')),
         writeRunner: attempt(() => fs.writeFileSync('/opt/omni/runner.cjs', 'x')),
         writeTmp: attempt(() => fs.writeFileSync('/tmp/ok.txt', 'x')),
         execTmp: attempt(() => { fs.writeFileSync('/tmp/run.js', '#!/opt/omni/node\\n', { mode: 0o755 }); execFileSync('/tmp/run.js') }),
         shadow: attempt(() => fs.readFileSync('/etc/shadow')),
         passwd: fs.readFileSync('/etc/passwd', 'utf8'),
         secret: attempt(() => fs.readFileSync(${JSON.stringify(secret)})),
         processes: fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).length,
         chown: attempt(() => fs.chownSync('/tmp/ok.txt', 0, 0)),
       }))`,
    )
    t.equal(escaped.exitCode, 0, escaped.stderr)
    const seen = JSON.parse(escaped.stdout)
    t.equal(seen.writeRoot, 'EROFS', 'the root filesystem is read-only')
    t.match(seen.writePlugin, /^(EROFS|EACCES)$/, "the plugin's code cannot be changed")
    t.match(seen.writeRunner, /^(EROFS|EACCES)$/, 'the runner cannot be changed')
    t.equal(seen.writeTmp, 'ok', '/tmp is writable')
    t.equal(seen.execTmp, 'EACCES', 'nothing written to /tmp can be run (noexec)')
    t.equal(seen.shadow, 'ENOENT', "the host's /etc/shadow is not there")
    t.equal(seen.passwd, '', 'no account names from the host')
    t.equal(seen.secret, 'ENOENT', "a host file outside the plugin's folders is not there")
    t.ok(seen.processes < 10, `only the container's own processes are visible (${seen.processes})`)
    t.equal(seen.chown, 'EPERM', 'no capabilities: chown is refused')
  })

  t.test("the container writes nowhere but its size-capped /tmp: not the host's disk, not the host's socket", async (t) => {
    const plugin = await runtime.load(containerPlugin(env, 'acme.disk', DOUBLE))
    const socketDir = (await docker.getContainer(plugin.containerId()!).inspect()).Mounts.find((m) => m.Destination === '/run/omni')!.Source
    const before = await readdir(socketDir)
    const escaped = await execNode(
      docker,
      plugin.containerId()!,
      `const fs = require('fs')
       const attempt = (fn) => { try { fn(); return 'ok' } catch (e) { return e.code } }
       const fill = (path) => attempt(() => { const mb = Buffer.alloc(1 << 20); const fd = fs.openSync(path, 'w'); try { for (let i = 0; i < 64; i++) fs.writeSync(fd, mb) } finally { fs.closeSync(fd) } })
       console.log(JSON.stringify({
         fillSocketFolder: fill('/run/omni/fill'),
         replaceSocket: attempt(() => fs.unlinkSync('/run/omni/host.sock')),
         linkSocket: attempt(() => fs.symlinkSync('/var/run/docker.sock', '/run/omni/runner.sock')),
         renameSocket: attempt(() => fs.renameSync('/run/omni/host.sock', '/run/omni/old.sock')),
         fillTmp: fill('/tmp/fill'),
       }))`,
    )
    t.equal(escaped.exitCode, 0, escaped.stderr)
    const seen = JSON.parse(escaped.stdout)
    t.match(seen.fillSocketFolder, /^(EROFS|EACCES)$/, 'the socket folder (on the host\'s data disk) is read-only')
    t.match(seen.replaceSocket, /^(EROFS|EACCES)$/, "the host's socket cannot be removed")
    t.match(seen.linkSocket, /^(EROFS|EACCES)$/, 'no link can be put where the host looks')
    t.match(seen.renameSocket, /^(EROFS|EACCES)$/)
    t.equal(seen.fillTmp, 'ENOSPC', '/tmp holds 16 MiB at most')
    t.same(await readdir(socketDir), before, 'the socket folder on the host is as it was')
    t.ok((await lstat(join(socketDir, 'host.sock'))).isSocket(), "the host's socket is still its own")
    t.same((await plugin.run(testInputs(2))).map((o) => o.type), ['continue', 'continue'], 'the plugin still runs')
  })

  t.test('the vm holds no host object', async (t) => {
    const plugin = await runtime.load(containerPlugin(env, 'acme.probe', PROBE_GLOBALS))
    const [output] = await plugin.run(testInputs(1))
    t.same(dataOf(output), { process: 'undefined', seen: [] })
  })

  t.test("prototype escapes end in the vm's own realm; the host is untouched", async (t) => {
    const plugin = await runtime.load(containerPlugin(env, 'acme.escape', PROTOTYPE_ESCAPE))
    const vias = ['this', 'object', 'async', 'stack', 'pollute']
    const outputs = await plugin.run(testInputs(vias.length, (i) => ({ via: vias[i] })))
    for (const [i, via] of vias.slice(0, 3).entries()) {
      t.match(outputs[i], { type: 'error', kind: 'threw', message: /Code generation from strings disallowed|process is not defined/ }, `${via}: the Function constructor reached is the vm's, which cannot compile strings`)
    }
    t.same(dataOf(outputs[3]), { process: 'undefined', via: 'stack' }, 'stack frames hold no runner object')
    t.same(dataOf(outputs[4]), { process: 'undefined', via: 'pollute' })
    const host = globalThis as Record<string, unknown>
    t.equal(host['omniPwned'], undefined, "the host's global object is untouched")
    t.equal(({} as Record<string, unknown>)['omniPolluted'], undefined, "the host's Object.prototype is untouched")
    const after = await plugin.run(testInputs(2, () => ({ via: 'none' })))
    t.same(after.map((o) => dataOf(o)?.['via']), ['none', 'none'], 'the plugin still runs after polluting its own realm')
  })

  t.test('globals turned into endless getters do not hang the runner between batches', async (t) => {
    const source = `function stage(input) {
      if (input.event.data.trap) {
        const loop = { get() { while (true) {} } }
        Object.defineProperty(globalThis, 'globalThis', loop)
        Object.defineProperty(Promise.prototype, 'constructor', loop)
        Object.defineProperty(Promise, Symbol.species, loop)
        return { type: 'drop', reason: 'trapped' }
      }
      return { type: 'continue', data: { n: input.event.data.n } }
    }`
    const plugin = await runtime.load(containerPlugin(env, 'acme.getters', source))
    const id = plugin.containerId()!
    const started = (await docker.getContainer(id).inspect()).State.StartedAt
    t.same((await plugin.run(testInputs(1, () => ({ trap: true }))))[0], { type: 'drop', reason: 'trapped' })
    t.same(
      (await plugin.run(testInputs(3))).map((o) => dataOf(o)?.['n']),
      [0, 1, 2],
    )
    t.equal((await docker.getContainer(id).inspect()).State.StartedAt, started, 'no restart was needed')
  })

  t.test('tampering with JSON, Promise and array globals does not break later batches', async (t) => {
    const plugin = await runtime.load(containerPlugin(env, 'acme.tamper', TAMPERS))
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
        `batch ${round + 1} after the tampering`,
      )
    }
  })
}
