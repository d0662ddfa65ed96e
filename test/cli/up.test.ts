import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { omni } from '../fixtures/cli.ts'
import { jetstreamManager } from '@nats-io/jetstream'
import { EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const OMNI = fileURLToPath(new URL('../../cmd/omni.ts', import.meta.url))

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise((r) => srv.close(r))
  return port
}

/** Starts `omni up` and resolves once it prints that it runs (bounded). */
function startUp(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; out: () => string; exited: Promise<number | null> }> {
  // every run gets its own API port (0: any free one), so runs never collide on 8080
  const apiPort = args.includes('--api-port') || args.includes('--no-api') ? [] : ['--api-port', '0']
  const child = spawn(process.execPath, ['--no-warnings', OMNI, 'up', ...args, ...apiPort], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`omni up did not start in 20 s:\n${out}`)), 20_000)
    const check = setInterval(() => {
      if (out.includes('Omni Fabric is running') || child.exitCode !== null) {
        clearTimeout(timer)
        clearInterval(check)
        resolve({ child, out: () => out, exited })
      }
    }, 50)
  })
}

t.test('omni up runs the shipped playbook on its own nats-server and stops cleanly on SIGTERM', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'omni-up-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const port = await freePort()
  const up = await startUp(['--data', data, '--port', String(port), '--no-watch'])
  t.teardown(() => up.child.exitCode === null && up.child.kill('SIGKILL'))
  t.match(up.out(), /NATS\s+nats:\/\/127\.0\.0\.1:\d+ \(local nats-server 2\.\d+\.\d+, pid \d+/)
  t.match(up.out(), /pipeline\s+whatsapp-personal: omni\.evt\.ingest\.message-received\.v1/)
  const url = `nats://127.0.0.1:${port}`

  // the API is up on loopback, with an admin token made in the data folder for its owner only
  const api = /API\s+(http:\/\/127\.0\.0\.1:\d+) \(docs .*admin token in (\S+)\)/.exec(up.out())
  t.ok(api, 'the banner names the API and where its token is')
  t.match(up.out(), /\n {2}webhook {5}whatsapp: evolution at http:\/\/127\.0\.0\.1:\d+\/v1\/webhooks\/whatsapp\/<instance>, bearer token with the ingest scope\n/, 'and the webhook sources with their URLs')
  const [, apiUrl = '', tokenFile = ''] = api ?? []
  t.equal((await stat(tokenFile)).mode & 0o777, 0o600, 'the token file is readable by its owner only')
  const token = (await readFile(tokenFile, 'utf8')).trim()
  t.equal((await fetch(`${apiUrl}/healthz`)).status, 200)
  t.equal((await fetch(`${apiUrl}/v1/pipelines`)).status, 401, 'nothing but health without a token')
  const viaApi = await fetch(`${apiUrl}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: 'api-1', source: 'test://up', type: 'message.received', provider: 'whatsapp', instance: 'phone-1', data: { kind: 'text', text: 'via the API', providerMessageId: 'm0', fromSelf: true, forwarded: false } }),
  })
  t.equal(viaApi.status, 202, await viaApi.clone().text())

  // the platform's own server admits no anonymous client; the CLI reads the credentials omni up wrote
  const credentials = join(data, 'nats-credentials')
  t.equal((await stat(credentials)).mode & 0o777, 0o600, 'the NATS credentials file is readable by its owner only')
  const anonymous = await omni(['tail', '-n', '1', '--nats', url])
  t.equal(anonymous.code, 1)
  t.match(anonymous.stderr, /OMNI_ERR_NATS_UNAVAILABLE: cannot connect to NATS .*Authorization Violation.*the server requires credentials: pass --nats-credentials/, 'an unauthenticated connection is refused')
  const withCreds = { env: { OMNI_NATS_CREDENTIALS: credentials } }
  const text = { kind: 'text', text: 'hello', providerMessageId: 'm1', fromSelf: false, forwarded: false }
  const audio = { kind: 'audio', providerMessageId: 'm2', fromSelf: false, forwarded: true }
  const self = { kind: 'text', text: 'note to self', providerMessageId: 'm3', fromSelf: true, forwarded: false }
  for (const data of [text, audio, self]) {
    const r = await omni(['publish', 'message.received', JSON.stringify(data), '--provider', 'whatsapp', '--instance', 'phone-1', '--nats', url], withCreds)
    t.equal(r.code, 0, r.stderr)
  }
  const tail = await omni(['tail', '--all', '-n', '10', '--json', '--nats', url, '--nats-credentials', credentials], { timeoutMs: 20_000 })
  const events = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown>; causationid?: string })
  const types = events.map((e) => e.type)
  t.equal(events.filter((e) => e.type === 'message.received' && e.data['providerMessageId'] === 'm0').length, 1, 'the event posted to the API is in the stream')
  t.equal(events.length, 10, 'four sources (one through the API), a reply, a transcription request, four fan-out copies')
  t.equal(types.filter((x) => x === 'agent.reply.requested').length, 1, 'the direct text got a reply request')
  t.equal(types.filter((x) => x === 'media.transcription.requested').length, 1, 'the forwarded audio got a transcription request')
  t.notOk(events.some((e) => e.causationid !== undefined && ['m0', 'm3'].includes(String(e.data['providerMessageId']))), 'the self-sent messages produced nothing')

  up.child.kill('SIGTERM')
  t.equal(await up.exited, 0)
  t.match(up.out(), /"msg":"stopped"/)
  const probe = await omni(['tail', '-n', '1', '--nats', url], withCreds)
  t.match(probe.stderr, /OMNI_ERR_NATS_UNAVAILABLE/, 'the managed server stopped with it')
})

t.test('a port in use names the fix', async (t) => {
  const holder: Server = createServer()
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => holder.close(r)))
  const port = (holder.address() as { port: number }).port
  const data = await mkdtemp(join(tmpdir(), 'omni-up-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const up = await startUp(['--data', data, '--port', String(port)])
  t.equal(await up.exited, 1)
  t.match(up.out(), new RegExp(`OMNI_ERR_PORT_IN_USE: .*${port}`))
  t.match(up.out(), /--port|--nats/)
})

t.test('a missing nats-server binary names the fix', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'omni-up-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const up = await startUp(['--data', data, '--port', String(await freePort())], { OMNI_NATS_SERVER: '/nonexistent/nats-server' })
  t.equal(await up.exited, 1)
  t.match(up.out(), /OMNI_ERR_NATS_BINARY_MISSING: .*\/nonexistent\/nats-server/)
  t.match(up.out(), /make setup/)
})

t.test('a bad --sync-interval is refused before anything starts', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'omni-up-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const r = await omni(['up', '--sync-interval', 'sometimes', '--port', String(await freePort()), '--data', data])
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_CONFIG: invalid nats-server options\n\s+syncInterval: must be 'always' or a duration/)
})

t.test('without --manifests, omni up reads the folder $OMNI_MANIFESTS names', async (t) => {
  const server = await startTestNats(t)
  const data = await mkdtemp(join(tmpdir(), 'omni-up-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const manifests = join(data, 'from-env')
  await mkdir(manifests)
  await writeFile(join(manifests, 'broken.yaml'), 'kind: Pipeline\nname: broken\n')
  const r = await omni(['up', '--nats', server.url, '--data', data, '--no-clickhouse', '--no-api', '--no-watch'], { env: { OMNI_MANIFESTS: manifests } })
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_MANIFEST/)
  t.match(r.stderr, join(manifests, 'broken.yaml'), 'the problem is in the folder the variable named')
})

t.test('--stream-max-bytes and $OMNI_RAW_MAX_BYTES set the streams\' byte limits, with discard: new', async (t) => {
  const server = await startTestNats(t)
  const data = await mkdtemp(join(tmpdir(), 'omni-up-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  await mkdir(join(data, 'manifests'))
  const up = await startUp(['--nats', server.url, '--data', data, '--manifests', join(data, 'manifests'), '--no-clickhouse', '--no-api', '--no-watch', '--stream-max-bytes', '64MiB'], { OMNI_RAW_MAX_BYTES: '32MiB' })
  t.teardown(() => up.child.exitCode === null && up.child.kill('SIGKILL'))
  const jsm = await jetstreamManager(await connectTest(t, server))
  t.match((await jsm.streams.info(EVENTS_STREAM)).config, { max_bytes: 64 * 1024 * 1024, discard: 'new' })
  t.match((await jsm.streams.info(RAW_STREAM)).config, { max_bytes: 32 * 1024 * 1024, discard: 'new' })
  up.child.kill('SIGTERM')
  t.equal(await up.exited, 0)
})

t.test('one process per data folder: a second omni up on it is refused before it touches anything; a stale lock is taken over', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'omni-up-lock-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const first = await startUp(['--data', data, '--port', String(await freePort()), '--no-watch', '--no-clickhouse'])
  t.teardown(() => first.child.exitCode === null && first.child.kill('SIGKILL'))
  t.match(first.out(), /Omni Fabric is running/)
  const conf = await readFile(join(data, 'nats', 'nats-server.conf'), 'utf8')
  const second = await omni(['up', '--data', data, '--port', String(await freePort()), '--no-watch', '--no-clickhouse', '--api-port', '0'], { timeoutMs: 20_000 })
  t.equal(second.code, 1)
  t.match(second.stderr, new RegExp(`OMNI_ERR_DATA_LOCKED: the data folder .* is in use by process ${first.child.pid}`))
  const after = await readFile(join(data, 'nats', 'nats-server.conf'), 'utf8')
  t.equal(after, conf, "the running server's configuration was not rewritten")
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)
  await t.rejects(stat(join(data, 'omni.lock')), 'the lock is given back on a clean stop')

  // a lock left by a process that is gone (killed) does not keep the folder
  await writeFile(join(data, 'omni.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, startedAt: '2026-01-01T00:00:00Z', command: 'omni up' }))
  const third = await startUp(['--data', data, '--port', String(await freePort()), '--no-watch', '--no-clickhouse'])
  t.teardown(() => third.child.exitCode === null && third.child.kill('SIGKILL'))
  t.match(third.out(), /Omni Fabric is running/, 'the stale lock was taken over')
  third.child.kill('SIGTERM')
  t.equal(await third.exited, 0)
})

t.test('the local server fsyncs every write unless told otherwise, and --help names the trade-off', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'omni-up-sync-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const up = await startUp(['--data', data, '--port', String(await freePort()), '--no-watch', '--no-clickhouse', '--no-api'])
  t.teardown(() => up.child.exitCode === null && up.child.kill('SIGKILL'))
  t.match(await readFile(join(data, 'nats', 'nats-server.conf'), 'utf8'), /sync_interval: always/)
  up.child.kill('SIGTERM')
  t.equal(await up.exited, 0)
  const help = await omni(['up', '--help'])
  t.match(help.stdout.replace(/\s+/g, ' '), /--sync-interval <value> .*always \(the default\).*may lose up to that much acknowledged data/)
})
