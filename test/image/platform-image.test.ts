import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { freePort } from '../../bench/lib/mesh-servers.ts'
import { IMAGE_UID, saveImage } from '../../src/image/mod.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { omni } from '../fixtures/cli.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { runPlatform, runPlatformOnce, testPlatformImage, type RunningPlatform } from '../fixtures/platform-image.ts'

const exec = promisify(execFile)
/** The slim image's size target (docs/kubernetes.md): Node ≈ 120 MB, nats-server ≈ 20 MB, the app and its packages. */
const SLIM_TARGET_MIB = 250

t.test('a variant that does not exist is refused before anything is built', async (t) => {
  const r = await omni(['image', 'build', '--variant', 'nope'])
  t.equal(r.code, 1)
  t.match(r.stderr, 'OMNI_ERR_CONFIG: --variant must be one of slim, full (got "nope")')
  t.equal(r.stdout, '')
})

const env = await testPlatformImage(t)
if (env) {
  t.comment(`slim image ${env.image.tag}: ${env.image.reused ? 'reused' : 'built'} in ${(env.buildMs / 1000).toFixed(1)} s, ${(env.image.sizeBytes / 1024 / 1024).toFixed(0)} MiB`)

  t.test('the image: tagged with the version, non-root, omni as the entrypoint, within its size target', async (t) => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    t.equal(env.image.tag, `omni-fabric:${version}-slim`)
    const info = await env.docker.getImage(env.image.tag).inspect()
    t.equal(info.Id, env.image.id, 'the tag points at this build')
    t.equal(info.Config.User, `${IMAGE_UID}:${IMAGE_UID}`)
    t.same(info.Config.Entrypoint, ['/opt/omni/node', '--no-warnings=ExperimentalWarning', '--stack-trace-limit=20', '/opt/omni/app/cmd/omni.ts'])
    t.same(info.Config.Cmd, ['up'])
    t.ok(info.Config.Env.includes('OMNI_API_HOST=0.0.0.0'), 'the API listens beyond the container')
    t.ok(info.Config.Env.includes('OMNI_NATS_SERVER=/opt/omni/bin/nats-server'), 'all-in-one finds its nats-server')
    t.ok(env.image.sizeBytes < SLIM_TARGET_MIB * 1024 * 1024, `slim is ${(env.image.sizeBytes / 1024 / 1024).toFixed(0)} MiB, target < ${SLIM_TARGET_MIB} MiB`)
  })

  t.test('the saved archive loads back: docker save format with the tag in manifest.json', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'omni-image-save-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    // a second tag, so removing and loading it never disturbs the image other tests use
    const repo = 'omni-fabric-load-check'
    const tag = `${process.pid}`
    await env.docker.getImage(env.image.id).tag({ repo, tag })
    t.teardown(() => env.docker.getImage(`${repo}:${tag}`).remove({ noprune: true }).catch(() => {}))
    const file = join(dir, 'image.tar')
    const bytes = await saveImage(env.docker, `${repo}:${tag}`, file)
    t.equal((await stat(file)).size, bytes)
    const { stdout } = await exec('tar', ['-xOf', file, 'manifest.json'])
    const manifest = JSON.parse(stdout) as Array<{ RepoTags: string[]; Layers: string[] }>
    t.same(manifest[0]?.RepoTags, [`${repo}:${tag}`], 'what kind load image-archive and ctr images import read')
    t.equal(manifest[0]?.Layers.length, 1, 'one layer: the rootfs')
    await env.docker.getImage(`${repo}:${tag}`).remove({ noprune: true })
    await t.rejects(env.docker.getImage(`${repo}:${tag}`).inspect(), 'the tag is gone before loading')
    const load = await env.docker.loadImage(file)
    await new Promise((resolve, reject) => env.docker.modem.followProgress(load, (err: Error | null) => (err ? reject(err) : resolve(undefined))))
    t.equal((await env.docker.getImage(`${repo}:${tag}`).inspect()).Id, env.image.id, 'docker load gives the same image back')
    await ctrImport(t, file, `docker.io/library/${repo}:${tag}`)
  })

  t.test('--help runs inside the image', async (t) => {
    const r = await runPlatformOnce(t, env, { args: ['--help'] })
    t.equal(r.exitCode, 0, r.stderr)
    t.match(r.stdout, /Usage: omni/)
    t.match(r.stdout, /\bup \[options\]/)
  })

  t.test('the isolate sandbox\'s native addon (isolated-vm) loads and runs inside the image', async (t) => {
    const script = "const ivm = require('isolated-vm'); const i = new ivm.Isolate({ memoryLimit: 16 }); console.log(i.compileScriptSync('6 * 7').runSync(i.createContextSync()))"
    const r = await runPlatformOnce(t, env, { args: ['--no-node-snapshot', '-e', script], entrypoint: ['/opt/omni/node'], workingDir: '/opt/omni/app' })
    t.equal(r.exitCode, 0, r.stderr)
    t.equal(r.stdout.trim(), '42')
  })

  t.test('restricted like a Kubernetes pod, against a nats-server on the host: ready, and a posted event is stored', async (t) => {
    const nats = await startTestNats(t)
    const apiPort = await freePort()
    const started = performance.now()
    const platform = await runPlatform(t, env, { args: ['up', '--nats', nats.url, '--no-clickhouse', '--api-port', String(apiPort)] })
    const readyMs = await waitReady(t, platform, apiPort)
    t.comment(`ready ${(readyMs - started).toFixed(0)} ms after docker start`)
    const token = (await readFile(join(platform.dataDir, 'api-token'), 'utf8')).trim()
    const event = { specversion: '1.0', id: `image-${process.pid}`, source: 'test/image', type: 'message.received', provider: 'whatsapp', instance: 'phone-1', data: { kind: 'text', text: 'from the image', providerMessageId: `m-${process.pid}`, fromSelf: false, forwarded: false } }
    const res = await fetch(`http://127.0.0.1:${apiPort}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(event) })
    const body = (await res.json()) as { seq: number; duplicate: boolean; subject: string }
    t.equal(res.status, 202, JSON.stringify(body))
    t.equal(body.duplicate, false)
    const jsm = await jetstreamManager(await connectTest(t, nats))
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: body.seq })
    t.equal(stored?.subject, body.subject)
    t.match(stored?.json<{ id: string; data: { text: string } }>(), { id: event.id, data: { text: 'from the image' } }, 'the event is in JetStream, read back from the host')
    t.equal(await platform.stop(), 0, 'SIGTERM drains and exits 0')
    // everything it wrote is in /data, as its own uid
    for (const name of await readdir(platform.dataDir)) t.equal((await stat(join(platform.dataDir, name))).uid, IMAGE_UID, `${name} is the image uid's`)
  })

  t.test('slim has no embedded ClickHouse: started without a ClickHouse choice, it says what to do and exits 1', async (t) => {
    const r = await runPlatformOnce(t, env, { args: ['up', '--port', String(await freePort()), '--api-port', String(await freePort())] })
    t.equal(r.exitCode, 1)
    t.match(r.stderr, 'OMNI_ERR_CLICKHOUSE_UNAVAILABLE: the embedded ClickHouse engine (the chdb package) is not installed here, as in the slim platform image: use a ClickHouse server (--clickhouse-url or $OMNI_CLICKHOUSE_URL), run without ClickHouse (--no-clickhouse), or use the full image')
  })

  t.test('all-in-one: the image starts its own nats-server with the store in /data', async (t) => {
    const [natsPort, apiPort] = [await freePort(), await freePort()]
    const platform = await runPlatform(t, env, { args: ['up', '--no-clickhouse', '--port', String(natsPort), '--api-port', String(apiPort)] })
    await waitReady(t, platform, apiPort)
    t.ok((await stat(join(platform.dataDir, 'nats', 'jetstream'))).isDirectory(), 'the JetStream store is under /data/nats')
    t.equal(await platform.stop(), 0)
  })
}

/**
 * `ctr images import` of the archive into the engine's own containerd, the way `kind load
 * image-archive` runs it on a node (`--all-platforms --digests`), in a namespace of its own.
 * The containerd socket is where scripts/docker-engine.sh's engine keeps it.
 */
async function ctrImport(t: Test, file: string, ref: string): Promise<void> {
  const address = join(dirname(env?.socketPath ?? '/'), 'exec', 'containerd', 'containerd.sock')
  const ctr = await exec('sh', ['-c', 'command -v ctr']).then((r) => r.stdout.trim(), () => '')
  const why = !ctr ? 'no ctr binary on PATH' : !(await stat(address).then(() => true, () => false)) ? `no containerd socket at ${address}` : undefined
  if (why) {
    t.comment(`ctr images import not checked: ${why}`)
    return
  }
  const ns = `omni-image-check-${process.pid}`
  const run = (...args: string[]) => exec(ctr, ['--address', address, '-n', ns, ...args], { timeout: 60_000 })
  t.teardown(async () => {
    await run('images', 'rm', ref).catch(() => {})
    await exec(ctr, ['--address', address, 'namespaces', 'rm', ns]).catch(() => {})
  })
  await run('images', 'import', '--all-platforms', '--digests', file)
  const { stdout } = await run('images', 'ls', '-q')
  t.ok(stdout.split('\n').includes(ref), `ctr images import lists ${ref}`)
}

/** Polls /readyz (bounded: 60 s) until it answers 200; resolves when, failing with the logs otherwise. */
async function waitReady(t: Test, platform: RunningPlatform, port: number): Promise<number> {
  const until = Date.now() + 60_000
  while (Date.now() < until) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)
    if (ok) return performance.now()
    await new Promise((r) => setTimeout(r, 100))
  }
  t.fail(`no 200 from /readyz within 60 s; logs:\n${await platform.logs()}`)
  throw new Error('not ready')
}
