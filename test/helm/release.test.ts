import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freePorts, layOutServer, startServer, withFreshPorts } from '../fixtures/helm-nats.ts'
import { layOutVolume } from '../fixtures/helm-pod.ts'
import { REPO, find, helmHome, helmMissing, podSpec, render, secretData, valueSets, type ContainerLike } from '../fixtures/helm.ts'

// A release of the default values, on loopback and without Kubernetes: the chart's NATS config
// (as nats-config.test.ts runs it), the platform started with the command line and environment
// its pod template renders, and then the `helm test` Pod's own script against it. Rewritten,
// because a pod has them and this machine has not: the NATS URL (Service name → 127.0.0.1), the
// API address (0.0.0.0:8080 → 127.0.0.1:<free port>) and the /data and /etc/omni/… mount points
// (→ temp folders laid out as the kubelet lays out the volumes), and OMNI_MANIFESTS, which the
// image sets, points at the repository's manifests. The image's own run (the same
// arguments under Docker) is checked where the image is built.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const FULL = 'omni-omni-fabric'

function rewriteOnce(list: string[], from: string, to: string): string[] {
  const hits = list.filter((a) => a === from).length
  if (hits !== 1) throw new Error(`expected ${from} once among ${list.join(' ')}, found it ${hits} times`)
  return list.map((a) => (a === from ? to : a))
}

t.test('the default release runs: the platform with its rendered arguments answers /readyz and passes the helm test script', { skip: missing }, async (t) => {
  const objects = await render('v4', await helmHome(t), [(await valueSets()).defaults ?? ''])
  const platform = find(objects, 'StatefulSet', FULL)
  const c = podSpec(platform)?.containers[0] as ContainerLike
  const nats = await withFreshPorts(async () => {
    const s = await layOutServer(t, objects, FULL, 0, await freePorts(1))
    await startServer(t, s, '/healthz?js-enabled-only=true')
    return s
  })
  const [api] = await freePorts(1)
  const data = await mkdtemp(join(tmpdir(), 'omni-helm-data-'))
  t.teardown(() => rm(data, { recursive: true, force: true }))
  const tokens = await layOutVolume(t, objects, platform, 'tokens')
  const credentials = await layOutVolume(t, objects, platform, 'nats-credentials')

  let args = [...(c.args ?? [])]
  args = rewriteOnce(args, `--nats=nats://${FULL}-nats.omni-test.svc:4222`, `--nats=nats://127.0.0.1:${nats.ports.client}`)
  args = rewriteOnce(args, '--data=/data', `--data=${data}`)
  args = rewriteOnce(args, '--api-host=0.0.0.0', '--api-host=127.0.0.1')
  args = rewriteOnce(args, '--api-port=8080', `--api-port=${api?.client}`)
  args = rewriteOnce(args, '--tokens=/etc/omni/tokens/tokens.yaml', `--tokens=${join(tokens, 'tokens.yaml')}`)
  const env: Record<string, string> = {}
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value
  t.equal(env.OMNI_NATS_CREDENTIALS, '/etc/omni/nats/credentials.json')
  env.OMNI_NATS_CREDENTIALS = join(credentials, 'credentials.json')
  // without manifests in the values the image's own are used: the image sets OMNI_MANIFESTS to them
  env.OMNI_MANIFESTS = join(REPO, 'manifests')

  const child = spawn(process.execPath, ['--no-warnings', join(REPO, 'cmd', 'omni.ts'), ...args], { cwd: data, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const base = `http://127.0.0.1:${api?.client}`
  let ready = 0
  for (let i = 0; i < 240 && ready !== 200 && child.exitCode === null; i++) {
    ready = await fetch(`${base}/readyz`).then((r) => r.status, () => 0)
    if (ready !== 200) await new Promise((r) => setTimeout(r, 250))
  }
  t.equal(ready, 200, '/readyz answers 200: NATS with the rendered login, ClickHouse and the fabric are up', { log })
  t.equal((await fetch(`${base}/healthz`)).status, 200, '/healthz answers on the same port')

  // the helm test Pod's script, with its environment, against this platform
  const pod = find(objects, 'Pod', `${FULL}-test-ingest`)
  const tc = podSpec(pod)?.containers[0] as ContainerLike & { command: string[] }
  t.same(tc.command.slice(1), ['--input-type=module', '-e'])
  const testEnv: Record<string, string> = { OMNI_TOKEN: secretData(find(objects, 'Secret', `${FULL}-api-tokens`))['admin-token'] ?? '' }
  for (const e of tc.env ?? []) if (e.value !== undefined) testEnv[e.name] = e.value
  t.equal(testEnv.OMNI_URL, `http://${FULL}.omni-test.svc:8080`)
  testEnv.OMNI_URL = base
  const script = tc.args?.[0] ?? ''
  const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...testEnv }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    p.on('close', (code) => resolve({ code, out }))
  })
  t.equal(result.code, 0, 'the helm test script passes', { output: result.out })
  t.match(result.out, /ingested and read back/)

  // SIGTERM, as the kubelet sends after the preStop pause: the platform drains and exits in time
  const grace = (platform.spec as { template: { spec: { terminationGracePeriodSeconds: number } } }).template.spec.terminationGracePeriodSeconds
  const started = Date.now()
  child.kill('SIGTERM')
  const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), grace * 1000).unref())])
  t.equal(code, 0, `omni up drains and exits 0 on SIGTERM (${Date.now() - started} ms, grace ${grace} s)`, { log })
})
