import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { createContainerRuntime } from '../../src/sandbox/container/runtime.ts'
import { PLUGIN_LABEL } from '../../src/sandbox/container/settings.ts'
import { containerPlugin, containersOf, execNode, testDocker, testRuntime } from '../fixtures/docker.ts'
import { ALLOCATES, BUSY_LOOP, DOUBLE, INVALID_RESULT, NEVER_RESOLVES, NO_STAGE, SYNTAX_ERROR, THROWS_AT_LOAD, THROWS_SOMETIMES, dataOf, kindOf, testInputs } from '../fixtures/sandbox-plugins.ts'

// Plugins in real containers on the engine scripts/test.sh starts. Each test is bounded.
t.setTimeout(180_000)

const env = await testDocker(t)
if (env) {
  const { docker } = env

  t.test('nothing touches the engine before the first load; an unreachable engine is named', async (t) => {
    const workDir = await mkdtemp(join(tmpdir(), 'omni-container-'))
    t.teardown(() => rm(workDir, { recursive: true, force: true }))
    const missing = join(workDir, 'no-engine.sock')
    const runtime = createContainerRuntime({ socketPath: missing, workDir })
    t.equal(runtime.runtime, 'container')
    t.same(runtime.containerIds(), [])
    await t.rejects(runtime.load(containerPlugin(env, 'acme.double', DOUBLE)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE', message: new RegExp(missing.replace(/[.]/g, '\\.')) })
    await runtime.close()
    await runtime.closed()

    const real = await testRuntime(t, env)
    t.same(await containersOf(docker, real.runtimeId), [], 'a runtime that loaded nothing has no container')
    t.same(real.containerIds(), [])
  })

  t.test('a batch of 100 events in one call, on a container made at load', async (t) => {
    const runtime = await testRuntime(t, env)
    const plugin = await runtime.load(containerPlugin(env, 'acme.double', DOUBLE))
    t.equal(plugin.runtime, 'container')
    const ids = runtime.containerIds()
    t.equal(ids.length, 1)
    t.equal(plugin.containerId(), ids[0])
    const info = await docker.getContainer(ids[0]!).inspect()
    t.equal(info.Config.Labels[PLUGIN_LABEL], 'acme.double')
    t.ok(info.State.Running)

    const inputs = testInputs(100)
    const outputs = await plugin.run(inputs)
    t.equal(outputs.length, 100)
    t.same(
      outputs.map((o) => dataOf(o)?.['n']),
      inputs.map((_, i) => i * 2),
    )
    t.same(new Set(outputs.map((o) => dataOf(o)?.['batch'])), new Set([1]), 'all 100 events went across in one call')
    t.same(outputs[0], { type: 'continue', data: { n: 0, batch: 1 }, labels: { seen: 'test' } })
    t.notOk('mutated' in inputs[0]!.event.data, 'the plugin changed its copy, not the host event')
    t.same(await plugin.run([]), [])

    await plugin.close()
    await plugin.close()
    t.same(runtime.containerIds(), [])
    t.match(await docker.getContainer(ids[0]!).inspect().catch((err: unknown) => err), { statusCode: 404 }, 'closing the instance removed its container')
    await t.rejects(plugin.run(testInputs(1)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
  })

  t.test('the container: no network, read-only root, no capabilities, uid 65534, the limits asked', async (t) => {
    const runtime = await testRuntime(t, env)
    const limits = { memoryMb: 96, cpus: 0.5, pids: 40 }
    const plugin = await runtime.load(containerPlugin(env, 'acme.double', DOUBLE, limits))
    const id = plugin.containerId()!
    const info = await docker.getContainer(id).inspect()
    const host = info.HostConfig
    t.equal(host.NetworkMode, 'none')
    t.equal(host.ReadonlyRootfs, true)
    t.same(host.CapDrop, ['ALL'])
    t.notOk(host.CapAdd?.length)
    t.same(host.SecurityOpt, ['no-new-privileges'])
    t.equal(info.Config.User, '65534:65534')
    t.equal(host.Memory, 96 * 1024 * 1024)
    t.equal(host.MemorySwap, 96 * 1024 * 1024)
    t.equal(host.NanoCpus, 0.5e9)
    t.equal(host.PidsLimit, 40)
    t.same(
      info.Mounts.map((m) => [m.Destination, m.RW]).sort(),
      [
        ['/plugin', false],
        ['/run/omni', false],
      ],
      'two binds only, both read-only: the code, and the folder of the host\'s socket',
    )
    t.same(info.Config.Env ?? [], [], 'no environment')

    // seen from inside, by a process with the container's own settings
    const probe = await execNode(
      docker,
      id,
      `const fs = require('fs')
       const status = fs.readFileSync('/proc/self/status', 'utf8')
       const field = (k) => status.match(new RegExp('^' + k + ':\\\\s*(.*)$', 'm'))[1].trim()
       console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), ifaces: fs.readdirSync('/sys/class/net'), capEff: field('CapEff'), capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs'),
         mounts: fs.readFileSync('/proc/self/mounts', 'utf8').split('\\n').filter((l) => / \\/(tmp|plugin|run\\/omni)? /.test(l)).map((l) => l.split(' ').slice(1, 4).join(' ')) }))`,
    )
    t.equal(probe.exitCode, 0, probe.stderr)
    const seen = JSON.parse(probe.stdout)
    t.equal(seen.uid, 65534)
    t.equal(seen.gid, 65534)
    t.same(seen.ifaces, ['lo'], 'only the loopback interface')
    t.equal(seen.capEff, '0000000000000000')
    t.equal(seen.capBnd, '0000000000000000')
    t.equal(seen.noNewPrivs, '1')
    t.match(seen.mounts.find((m: string) => m.startsWith('/ ')), /^\/ overlay ro[,\s]/, 'the root is read-only')
    t.match(seen.mounts.find((m: string) => m.startsWith('/tmp ')), /nosuid.*noexec|noexec.*nosuid/)
    t.match(seen.mounts.find((m: string) => m.startsWith('/plugin ')), / ro[,\s]?/)
  })

  t.test('a plugin that throws for one event fails that event only', async (t) => {
    const runtime = await testRuntime(t, env)
    const plugin = await runtime.load(containerPlugin(env, 'acme.throws', THROWS_SOMETIMES))
    const outputs = await plugin.run(testInputs(4, (i) => ({ fail: i === 1, orphan: i === 2, drop: i === 3 })))
    t.same(outputs, [
      { type: 'continue', data: { n: 1 } },
      { type: 'error', kind: 'threw', message: 'TypeError: cannot handle evt-1' },
      { type: 'continue', data: { n: 3 } },
      { type: 'drop', reason: 'not interesting' },
    ])
  })

  t.test('while(true){}: the runner stops the batch; the others succeed; no restart needed', async (t) => {
    const runtime = await testRuntime(t, env)
    const plugin = await runtime.load(containerPlugin(env, 'acme.loop', BUSY_LOOP, { timeoutMs: 300 }))
    const id = plugin.containerId()!
    const started = (await docker.getContainer(id).inspect()).State.StartedAt
    const outputs = await plugin.run(testInputs(4, (i) => ({ hang: i === 2 })))
    t.same(outputs.map(kindOf), [undefined, undefined, 'timeout', undefined])
    t.same(
      outputs.filter((o) => o.type === 'continue').map((o) => dataOf(o)?.['n']),
      [0, 1, 3],
    )
    t.equal((await docker.getContainer(id).inspect()).State.StartedAt, started, "the runner's vm timeout stopped the loop: the container kept running")
    t.same((await plugin.run(testInputs(3))).map((o) => dataOf(o)?.['n']), [0, 1, 2], 'the plugin still works')
  })

  t.test('a promise that never settles: the host timeout restarts the container, the others succeed', async (t) => {
    const runtime = await testRuntime(t, env, { timeoutGraceMs: 200 })
    const plugin = await runtime.load(containerPlugin(env, 'acme.never', NEVER_RESOLVES, { timeoutMs: 300 }))
    const id = plugin.containerId()!
    const started = (await docker.getContainer(id).inspect()).State.StartedAt
    const outputs = await plugin.run(testInputs(3, (i) => ({ hang: i === 1 })))
    t.same(outputs.map(kindOf), [undefined, 'timeout', undefined])
    t.match(outputs[1], { message: /no answer within 500 ms; its container was restarted/ })
    t.equal(plugin.containerId(), id, 'the same container, restarted')
    t.not((await docker.getContainer(id).inspect()).State.StartedAt, started)
    t.same((await plugin.run(testInputs(2))).map((o) => dataOf(o)?.['n']), [0, 1])
  })

  t.test('unbounded allocation hits the V8 heap cap: memory, restarted, the next call works', async (t) => {
    const runtime = await testRuntime(t, env)
    const plugin = await runtime.load(containerPlugin(env, 'acme.hog', ALLOCATES, { memoryMb: 64, timeoutMs: 20_000 }))
    const outputs = await plugin.run(testInputs(3, (i) => ({ hog: i === 0 })))
    t.same(outputs.map(kindOf), ['memory', undefined, undefined])
    t.match(outputs[0], { message: /JavaScript heap/ })
    t.same((await plugin.run(testInputs(2))).map((o) => dataOf(o)?.['n']), [0, 1])
  })

  t.test("memory outside V8's heap hits the container's limit: memory (OOM-killed), restarted", async (t) => {
    const runtime = await testRuntime(t, env)
    const source = `function stage(input) {
      if (input.event.data.hog) { const keep = []; while (true) { const b = new Uint8Array(8 * 1024 * 1024); b.fill(1); keep.push(b) } }
      return { type: 'continue', data: { n: input.event.data.n } }
    }`
    const plugin = await runtime.load(containerPlugin(env, 'acme.buffers', source, { memoryMb: 64, timeoutMs: 20_000 }))
    const outputs = await plugin.run(testInputs(2, (i) => ({ hog: i === 1 })))
    t.same(outputs.map(kindOf), [undefined, 'memory'])
    t.match(outputs[1], { message: /its container reached its 64 MiB limit/ })
    t.same((await plugin.run(testInputs(1))).map((o) => dataOf(o)?.['n']), [0])
  })

  t.test('process.exit() is out of reach; a runner that dies anyway is a crash, restarted by the next call', async (t) => {
    const runtime = await testRuntime(t, env)
    const source = `function stage(input) {
      if (input.event.data.exit) process.exit(1)
      if (input.event.data.hang) return new Promise(() => {})
      return { type: 'continue', data: { n: input.event.data.n } }
    }`
    const plugin = await runtime.load(containerPlugin(env, 'acme.exit', source, { timeoutMs: 10_000 }))
    const id = plugin.containerId()!
    const [exited] = await plugin.run(testInputs(1, () => ({ exit: true })))
    t.same(exited, { type: 'error', kind: 'threw', message: 'ReferenceError: process is not defined' }, 'the vm has no process object')

    // the runner dies in the middle of a call (as process.exit would make it): SIGKILL from the host
    const pid = (await docker.getContainer(id).inspect()).State.Pid
    const pending = plugin.run(testInputs(1, () => ({ hang: true })))
    await new Promise((r) => setTimeout(r, 200))
    process.kill(pid, 'SIGKILL')
    const [crashed] = await pending
    t.equal(kindOf(crashed), 'crashed')
    t.match(crashed, { message: /exited with code 137/ })
    t.same((await plugin.run(testInputs(2))).map((o) => dataOf(o)?.['n']), [0, 1], 'restarted by the next call')

    // and between calls
    process.kill((await docker.getContainer(id).inspect()).State.Pid, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 200))
    t.same((await plugin.run(testInputs(1))).map((o) => dataOf(o)?.['n']), [0])
  })

  t.test('results of the wrong shape are invalid-result for their event only', async (t) => {
    const runtime = await testRuntime(t, env)
    const plugin = await runtime.load(containerPlugin(env, 'acme.invalid', INVALID_RESULT))
    const shapes = ['unknown-type', 'data-not-object', 'extra-field', 'function', 'bigint', 'cycle', 'bad-emit', 'nothing', 'fine']
    const outputs = await plugin.run(testInputs(shapes.length, (i) => ({ shape: shapes[i] })))
    t.same(outputs.map(kindOf), ['invalid-result', 'invalid-result', 'invalid-result', 'invalid-result', 'invalid-result', 'invalid-result', 'invalid-result', undefined, undefined])
    t.same(outputs.slice(-2), [{ type: 'continue' }, { type: 'continue' }])
    t.match(outputs[5], { message: /not serializable as JSON/ })
  })

  t.test('a plugin that cannot load fails load() and leaves no container behind', async (t) => {
    const runtime = await testRuntime(t, env)
    for (const [name, source, why] of [
      ['no-stage', NO_STAGE, /declares no function `stage\(input\)`/],
      ['syntax', SYNTAX_ERROR, /Unexpected token|SyntaxError/],
      ['throws', THROWS_AT_LOAD, /refusing to start/],
      ['loops', 'while (true) {}\nfunction stage() {}', /timed out/],
      ['getter', "Object.defineProperty(globalThis, 'stage', { get() { while (true) {} } })", /makes `stage` an accessor/],
    ] as const) {
      await t.rejects(runtime.load(containerPlugin(env, `acme.${name}`, source)), { code: 'OMNI_ERR_PLUGIN_FAILED', permanent: true, message: why }, name)
    }
    t.same(await containersOf(docker, runtime.runtimeId), [])
  })

  t.test('images: only by digest, only from the engine, never pulled', async (t) => {
    const runtime = await testRuntime(t, env)
    const code = containerPlugin(env, 'acme.double', DOUBLE)
    for (const image of ['omni-plugin-node:latest', 'omni-plugin-node', undefined]) {
      await t.rejects(runtime.load({ ...code, image }), { code: 'OMNI_ERR_PLUGIN_MANIFEST', permanent: true }, String(image))
    }
    const absent = `omni-plugin-node@sha256:${'0'.repeat(64)}`
    await t.rejects(runtime.load({ ...code, image: absent }), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE', message: /is not in the engine/ })
    await t.rejects(runtime.load({ ...code, limits: { ...code.limits, memoryMb: 16 } }), { code: 'OMNI_ERR_CONFIG', permanent: true })
    t.same(await containersOf(docker, runtime.runtimeId), [])
  })

  t.test('close() removes every container and folder, is idempotent, and ends calls in flight', async (t) => {
    const workDir = await mkdtemp(join(tmpdir(), 'omni-container-'))
    t.teardown(() => rm(workDir, { recursive: true, force: true }))
    const runtime = createContainerRuntime({ socketPath: env.socketPath, workDir, closeTimeoutMs: 200 })
    const a = await runtime.load(containerPlugin(env, 'acme.a', DOUBLE))
    await runtime.load(containerPlugin(env, 'acme.b', NEVER_RESOLVES, { timeoutMs: 30_000 }))
    const b = await runtime.load(containerPlugin(env, 'acme.b', NEVER_RESOLVES, { timeoutMs: 30_000 }))
    t.equal((await containersOf(docker, runtime.runtimeId)).length, 3)
    t.equal((await readdir(workDir)).length, 3)
    t.ok((await a.run(testInputs(1)))[0])
    const inFlight = b.run(testInputs(1, () => ({ hang: true }))).then(
      () => undefined,
      (err: unknown) => err,
    )
    await new Promise((r) => setTimeout(r, 100))
    const started = Date.now()
    await Promise.all([runtime.close(), runtime.close()])
    t.ok(Date.now() - started < 10_000, 'a hanging call does not hold close() up')
    t.match(await inFlight, { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' }, 'the call in flight ends: its runtime closed')
    await runtime.closed()
    await runtime[Symbol.asyncDispose]()
    t.same(await containersOf(docker, runtime.runtimeId), [])
    t.same(await readdir(workDir), [])
    t.same(runtime.containerIds(), [])
    await t.rejects(runtime.load(containerPlugin(env, 'acme.a', DOUBLE)), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
    t.ok(hasCode(await a.run(testInputs(1)).catch((e: unknown) => e), 'OMNI_ERR_SANDBOX_UNAVAILABLE'))
  })
}
