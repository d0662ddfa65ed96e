import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import t, { type Test } from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { connectNats } from '../../src/jetstream/connect.ts'
import { checkServerVersion, isSupportedVersion, startNatsServer } from '../../src/server/mod.ts'
import { checkNatsBinary, locateNatsBinary, TOOLS_NATS_SERVER } from '../../src/server/binary.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-nats-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A shell script standing in for nats-server. */
async function fakeBinary(dir: string, body: string): Promise<string> {
  const path = join(dir, 'nats-server')
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

/** True while the process runs (a zombie awaiting its reaper counts as gone). */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z'
  } catch {
    return false
  }
}

async function holdPort(t: Test): Promise<number> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as { port: number }).port
}

t.test('starts a real server with JetStream and stops it', async (t) => {
  const dir = await tempDir(t)
  const server = await startNatsServer({ port: 0, storeDir: join(dir, 'store'), syncInterval: 'always', serverName: 'omni_test' })
  t.ok(server.port > 0, 'a free port was picked')
  t.equal(server.url, `nats://127.0.0.1:${server.port}`)
  t.ok(isSupportedVersion(server.version), `version ${server.version} is 2.10+`)
  t.ok(server.running && isAlive(server.pid))
  t.match(await readFile(join(server.storeDir, 'nats-server.conf'), 'utf8'), /sync_interval: always/)

  const nc = await connectNats(server.url)
  t.equal(await checkServerVersion(nc), server.version)
  t.equal(nc.info?.server_name, 'omni_test')
  const jsm = await jetstreamManager(nc)
  t.ok((await jsm.getAccountInfo()).limits !== undefined, 'JetStream answers')
  await nc.close()

  const pid = server.pid
  await server.close()
  await server.closed()
  t.notOk(server.running)
  t.notOk(isAlive(pid), 'the process is gone')
  await server.close()
  t.pass('close is idempotent')
})

t.test('asyncDispose closes the server', async (t) => {
  const dir = await tempDir(t)
  let pid = 0
  {
    await using server = await startNatsServer({ port: 0, storeDir: dir })
    pid = server.pid
  }
  t.notOk(isAlive(pid))
})

/** Resolves on the connection's next successful reconnect. */
async function reconnected(nc: NatsConnection): Promise<void> {
  for await (const s of nc.status()) if (s.type === 'reconnect') return
}

t.test('a server does not outlive an owner that crashes', async (t) => {
  const dir = await tempDir(t)
  const mod = new URL('../../src/server/mod.ts', import.meta.url).href
  const script = `
    const { startNatsServer } = await import(${JSON.stringify(mod)})
    const s = await startNatsServer({ port: 0, storeDir: ${JSON.stringify(join(dir, 'store'))} })
    console.log(s.pid)
    throw new Error('owner crashed')`
  const owner = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  owner.stdout.on('data', (c: Buffer) => (out += c.toString()))
  const code = await new Promise<number | null>((resolve) => owner.once('close', resolve))
  t.not(code, 0, 'the owner crashed')
  const pid = Number(out.trim())
  t.ok(pid > 0, 'the owner started a server')
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  t.notOk(isAlive(pid), 'the server got SIGTERM and exited')
})

t.test('restart keeps JetStream data, after a clean stop and after a crash', async (t) => {
  const server = await startTestNats(t)
  const port = server.port
  const nc = await connect({ servers: server.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] })
  const js = jsm.jetstream()
  await js.publish('keep.a', new TextEncoder().encode('one'))

  const firstPid = server.pid
  let back = reconnected(nc)
  await server.restart()
  t.equal(server.port, port, 'same port')
  t.not(server.pid, firstPid, 'a new process')
  await back
  await js.publish('keep.b', new TextEncoder().encode('two'))
  t.equal((await jsm.streams.info('KEEP')).state.messages, 2)

  back = reconnected(nc)
  server.kill('SIGKILL')
  await server.closed()
  t.notOk(server.running)
  await server.restart()
  await back
  const info = await jsm.streams.info('KEEP')
  t.equal(info.state.messages, 2, 'acked messages survive SIGKILL with sync_interval always')
  t.equal(info.state.last_seq, 2)
})

t.test('a binary older than 2.10 gives OMNI_ERR_NATS_TOO_OLD', async (t) => {
  const dir = await tempDir(t)
  const binary = await fakeBinary(dir, 'echo "nats-server: v2.9.10"')
  await t.rejects(startNatsServer({ port: 0, storeDir: join(dir, 's'), binary }), {
    code: 'OMNI_ERR_NATS_TOO_OLD',
    message: /v2\.9\.10.*2\.10\.0.*make setup/,
  })
})

t.test('OMNI_NATS_SERVER is used when no binary option is given', async (t) => {
  const dir = await tempDir(t)
  const saved = process.env['OMNI_NATS_SERVER']
  t.teardown(() => {
    if (saved === undefined) delete process.env['OMNI_NATS_SERVER']
    else process.env['OMNI_NATS_SERVER'] = saved
  })
  process.env['OMNI_NATS_SERVER'] = await fakeBinary(dir, 'echo "nats-server: v2.8.4"')
  await t.rejects(startNatsServer({ port: 0, storeDir: join(dir, 's') }), { code: 'OMNI_ERR_NATS_TOO_OLD', message: /OMNI_NATS_SERVER/ })
})

t.test('a missing or unusable binary gives OMNI_ERR_NATS_BINARY_MISSING', async (t) => {
  const dir = await tempDir(t)
  await t.rejects(startNatsServer({ port: 0, storeDir: dir, binary: join(dir, 'no-such-nats-server') }), {
    code: 'OMNI_ERR_NATS_BINARY_MISSING',
    message: /does not exist.*make setup/,
  })
  const notNats = await fakeBinary(dir, 'echo "hello"')
  await t.rejects(startNatsServer({ port: 0, storeDir: dir, binary: notNats }), {
    code: 'OMNI_ERR_NATS_BINARY_MISSING',
    message: /does not look like nats-server/,
  })
})

t.test('a port held by another listener gives OMNI_ERR_PORT_IN_USE', async (t) => {
  const dir = await tempDir(t)
  const port = await holdPort(t)
  await t.rejects(startNatsServer({ port, storeDir: dir }), {
    code: 'OMNI_ERR_PORT_IN_USE',
    message: new RegExp(`port ${port} .*--port.*--nats`),
  })
})

t.test("the server's own 'address already in use' log gives OMNI_ERR_PORT_IN_USE", async (t) => {
  const dir = await tempDir(t)
  // passes the version check, then fails the way nats-server does when it loses a bind race
  const binary = await fakeBinary(
    dir,
    'if [ "$1" = "--version" ]; then echo "nats-server: v2.10.27"; exit 0; fi\n' +
      'echo "[FTL] Error listening on port: 127.0.0.1:4222, \\"listen tcp 127.0.0.1:4222: bind: address already in use\\"" >&2\nexit 1',
  )
  await t.rejects(startNatsServer({ port: 0, storeDir: dir, binary }), { code: 'OMNI_ERR_PORT_IN_USE', message: /port 4222 on 127.0.0.1/ })
})

t.test('a server that exits while starting reports its last log lines', async (t) => {
  const dir = await tempDir(t)
  const binary = await fakeBinary(
    dir,
    'if [ "$1" = "--version" ]; then echo "nats-server: v2.10.27"; exit 0; fi\necho "first line"\necho "config is broken" >&2\nexit 3',
  )
  await t.rejects(startNatsServer({ port: 0, storeDir: dir, binary }), {
    code: 'OMNI_ERR_NATS_UNAVAILABLE',
    message: /exited with code 3[\s\S]*config is broken/,
  })
})

t.test('a server that never becomes ready is killed after readyTimeoutMs', async (t) => {
  const dir = await tempDir(t)
  const binary = await fakeBinary(dir, 'if [ "$1" = "--version" ]; then echo "nats-server: v2.10.27"; exit 0; fi\necho "stuck"\nexec sleep 30')
  await t.rejects(startNatsServer({ port: 0, storeDir: dir, binary, readyTimeoutMs: 300 }), {
    code: 'OMNI_ERR_NATS_UNAVAILABLE',
    message: /within 300 ms[\s\S]*stuck/,
  })
})

t.test('invalid options are all reported', async (t) => {
  const err = await startNatsServer({ port: 70000, storeDir: '', syncInterval: 'sometimes', maxPayload: -1 }).catch((e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_CONFIG'))
  t.same(
    (err as { problems: { where: string }[] }).problems.map((p) => p.where),
    ['port', 'storeDir', 'syncInterval', 'maxPayload'],
  )
})

t.test('logFile receives the server log and feeds error reports', async (t) => {
  const dir = await tempDir(t)
  const logFile = join(dir, 'nats.log')
  const server = await startTestNats(t, { logFile, maxPayload: 2048 })
  const nc = await connectTest(t, server)
  t.equal(nc.info?.max_payload, 2048)
  t.match(await readFile(logFile, 'utf8'), /Server is ready/)
})

t.test('checkServerVersion', async (t) => {
  const fake = (info: object) => ({ info, getServer: () => 'nats://old:4222' }) as unknown as NatsConnection
  await t.rejects(checkServerVersion(fake({ version: '2.9.10', jetstream: true })), {
    code: 'OMNI_ERR_NATS_TOO_OLD',
    message: /nats:\/\/old:4222 is v2\.9\.10/,
  })
  await t.rejects(checkServerVersion(fake({ version: '2.10.1', jetstream: false })), {
    code: 'OMNI_ERR_NATS_UNAVAILABLE',
    message: /JetStream is not enabled/,
  })
  await t.rejects(checkServerVersion({ info: undefined, getServer: () => 'x' } as unknown as NatsConnection), {
    code: 'OMNI_ERR_NATS_UNAVAILABLE',
  })
})

/** A port that was free a moment ago (nothing listens on it). */
async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

t.test('connectNats names the URL when nothing listens there', async (t) => {
  const free = await freePort()
  await t.rejects(connectNats(`nats://127.0.0.1:${free}`), {
    code: 'OMNI_ERR_NATS_UNAVAILABLE',
    message: new RegExp(`nats://127\\.0\\.0\\.1:${free}.*omni up`),
  })
})

/** Runs nats-server directly (not managed) with `args` and connects to it. */
async function plainNats(t: Test, args: string[], auth: { user?: string; pass?: string } = {}): Promise<{ nc: NatsConnection; url: string }> {
  const port = await freePort()
  const child = spawn(TOOLS_NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: 'ignore' })
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  const url = `nats://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    const nc = await connect({ servers: url, reconnect: false, ...auth }).catch(() => undefined)
    if (nc) {
      t.teardown(() => nc.close())
      return { nc, url }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('plain nats-server did not start')
}

t.test('checkServerVersion rejects a real server without JetStream', async (t) => {
  const { nc, url } = await plainNats(t, [])
  await t.rejects(checkServerVersion(nc), { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /JetStream is not enabled.*-js/ })
  await t.rejects(connectNats(url), { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /JetStream is not enabled/ })
})

t.test('checkServerVersion rejects an account without JetStream on a JetStream server', async (t) => {
  const dir = await tempDir(t)
  const conf = join(dir, 'accounts.conf')
  await writeFile(
    conf,
    `jetstream { store_dir: ${JSON.stringify(dir)} }
accounts {
  JS: { jetstream: enabled, users: [{ user: js, password: js }] }
  PLAIN: { users: [{ user: plain, password: plain }] }
}
`,
  )
  const { nc } = await plainNats(t, ['-c', conf], { user: 'plain', pass: 'plain' })
  t.equal(nc.info?.jetstream, true, 'the server advertises JetStream')
  await t.rejects(checkServerVersion(nc), { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /not available to this account/ })
})

t.test('binary lookup order: option, OMNI_NATS_SERVER, .tools, PATH', async (t) => {
  const dir = await tempDir(t)
  const onPathBin = await fakeBinary(dir, 'echo "nats-server: v2.11.0"')
  const missingTools = join(dir, 'no-tools', 'nats-server')
  t.same(await locateNatsBinary('/x/explicit', { OMNI_NATS_SERVER: '/x/env' }), { path: '/x/explicit', source: 'the binary option' })
  t.same(await locateNatsBinary(undefined, { OMNI_NATS_SERVER: '/x/env' }), { path: '/x/env', source: 'OMNI_NATS_SERVER' })
  t.same(await locateNatsBinary(undefined, { PATH: dir }, onPathBin), { path: onPathBin, source: '.tools/nats' })
  t.same(await locateNatsBinary(undefined, { PATH: `/nonexistent:${dir}` }, missingTools), { path: onPathBin, source: 'PATH' })
  await t.rejects(locateNatsBinary(undefined, { PATH: '/nonexistent' }, missingTools), {
    code: 'OMNI_ERR_NATS_BINARY_MISSING',
    message: /no nats-server binary found.*make setup/,
  })
  const plain = join(dir, 'not-executable')
  await writeFile(plain, 'echo')
  await t.rejects(checkNatsBinary(plain), { code: 'OMNI_ERR_NATS_BINARY_MISSING', message: /is not executable/ })
})

t.test('a failed start with logFile set reports the tail of that file', async (t) => {
  const dir = await tempDir(t)
  const logFile = join(dir, 'server.log')
  await writeFile(logFile, 'earlier line\n[FTL] something fatal\n')
  const binary = await fakeBinary(dir, 'if [ "$1" = "--version" ]; then echo "nats-server: v2.10.27"; exit 0; fi\nexit 1')
  await t.rejects(startNatsServer({ port: 0, storeDir: dir, binary, logFile }), {
    code: 'OMNI_ERR_NATS_UNAVAILABLE',
    message: /exited with code 1[\s\S]*something fatal/,
  })
})
