import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { freePort } from '../../bench/lib/mesh-servers.ts'
import { platformImageTag, type ImageVariant } from '../../src/image/mod.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { podContainerRun, rewriteOnce } from '../fixtures/helm-container.ts'
import { freePorts, layOutServer, startServer, withFreshPorts } from '../fixtures/helm-nats.ts'
import { REPO, find, helmHome, helmMissing, podSpec, render, secretData, valueSets, type K8sObject } from '../fixtures/helm.ts'
import { execInPlatform, runPlatform, testPlatformImage, type RunningPlatform } from '../fixtures/platform-image.ts'

// The platform image run under the local Docker engine with what the chart renders into its
// pod: the command line, the environment, the user and groups, the read-only root, the dropped
// capabilities, no-new-privileges and every volume mount (laid out as the kubelet would), on the
// host network against the chart's own NATS config run on loopback. The value set is the
// defaults with `clickhouse.enabled: false`: the slim image (the one `make test` builds) carries
// no embedded ClickHouse, and no ClickHouse server can be stood in here (Debian's is 18.16).
// Rewritten, each exactly once, because a pod has them and the host network has not: the NATS
// Service name (→ 127.0.0.1 and the test server's port), the API address (0.0.0.0 → 127.0.0.1,
// tests stay on loopback) and the API port (8080 → a free port: the host network is shared).

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const FULL = 'omni-omni-fabric'
const NO_CLICKHOUSE = ['--set', 'clickhouse.enabled=false']

/** The platform's workload: a StatefulSet with the embedded engine, else a Deployment. */
function platformWorkload(objects: K8sObject[]): K8sObject {
  const found = objects.find((o) => (o.kind === 'StatefulSet' || o.kind === 'Deployment') && o.metadata.name === FULL)
  if (!found) throw new Error(`no platform workload ${FULL} rendered`)
  return found
}

const imageOf = (objects: K8sObject[]) => podSpec(platformWorkload(objects))?.containers.find((c) => c.name === 'omni')?.image

t.test('the image the chart names by default is the tag `omni image build` gives that variant', { skip: missing }, async (t) => {
  const home = await helmHome(t)
  const sets = await valueSets()
  const cases: [string, string[], string[], ImageVariant][] = [
    ['defaults (embedded ClickHouse)', [sets.defaults ?? ''], [], 'full'],
    ['external-clickhouse-3-replicas', [sets['external-clickhouse-3-replicas'] ?? ''], [], 'slim'],
    ['defaults with clickhouse.enabled=false', [sets.defaults ?? ''], NO_CLICKHOUSE, 'slim'],
  ]
  for (const [name, files, extra, variant] of cases) {
    t.equal(imageOf(await render('v4', home, files, extra)), await platformImageTag(REPO, variant), `${name}: the ${variant} image`)
  }
})

t.test('a securityContext field or volume kind the Docker mapping does not know is refused, never dropped', { skip: missing }, async (t) => {
  const objects = await render('v4', await helmHome(t), [(await valueSets()).defaults ?? ''], NO_CLICKHOUSE)
  const privileged = structuredClone(platformWorkload(objects))
  const c = podSpec(privileged)?.containers[0]
  if (c) c.securityContext = { ...c.securityContext, privileged: false }
  await t.rejects(podContainerRun(t, objects, privileged, 'omni'), /container omni's securityContext has privileged, which this fixture does not map to Docker/)
  const hostPath = structuredClone(platformWorkload(objects))
  const volumes = podSpec(hostPath)?.volumes ?? []
  volumes.splice(volumes.findIndex((v) => v.name === 'tmp'), 1, { name: 'tmp', hostPath: { path: '/tmp' } })
  await t.rejects(podContainerRun(t, objects, hostPath, 'omni'), /volume tmp: only emptyDir, secret, configMap, projected and volumeClaimTemplates are mapped here/)
})

const env = missing ? undefined : await testPlatformImage(t)
if (env) {
  t.comment(`slim image ${env.image.tag}: ${env.image.reused ? 'reused' : 'built'} in ${(env.buildMs / 1000).toFixed(1)} s`)

  t.test('the slim image runs with exactly what the chart renders: ready, /healthz, an event stored, SIGTERM exits 0', async (t) => {
    const objects = await render('v4', await helmHome(t), [(await valueSets()).defaults ?? ''], NO_CLICKHOUSE)
    const workload = platformWorkload(objects)
    t.equal(workload.kind, 'Deployment', 'without the embedded engine the platform is a Deployment')
    t.equal(imageOf(objects), env.image.tag, 'the chart names the image the test built')
    const nats = await withFreshPorts(async () => {
      const s = await layOutServer(t, objects, FULL, 0, await freePorts(1))
      await startServer(t, s, '/healthz?js-enabled-only=true')
      return s
    })
    const pod = await podContainerRun(t, objects, workload, 'omni')
    t.same(pod.mounts.map((m) => [m.target, m.readOnly]), [['/data', false], ['/tmp', false], ['/etc/omni/nats', true], ['/etc/omni/tokens', true]], 'every rendered volume mount is mapped')
    t.same({ user: pod.user, groups: pod.groupAdd, ...pod.security }, { user: '65532:65532', groups: ['65532'], readOnlyRoot: true, capDrop: ['ALL'], capAdd: [], noNewPrivileges: true }, 'the restricted settings, from the rendered securityContexts')

    const apiPort = pod.ports.api
    if (apiPort === undefined) throw new Error('the container has no port named api')
    const hostPort = await freePort()
    let args = rewriteOnce(pod.args, `--nats=nats://${FULL}-nats.omni-test.svc:4222`, `--nats=nats://127.0.0.1:${nats.ports.client}`)
    args = rewriteOnce(args, '--api-host=0.0.0.0', '--api-host=127.0.0.1')
    args = rewriteOnce(args, `--api-port=${apiPort}`, `--api-port=${hostPort}`)
    const started = performance.now()
    const platform = await runPlatform(t, env, { args, env: pod.env, user: pod.user, groupAdd: pod.groupAdd, security: pod.security, mounts: pod.mounts, ...(pod.entrypoint ? { entrypoint: pod.entrypoint } : {}) })

    // the probes as the kubelet calls them: their path, on their port (named → containerPort → the rewritten port)
    const probes = (['startupProbe', 'livenessProbe', 'readinessProbe'] as const).map((k) => {
      const get = (pod.container[k] as { httpGet?: { path: string; port: string | number } } | undefined)?.httpGet
      if (!get) throw new Error(`${k} is not an httpGet probe`)
      const port = typeof get.port === 'number' ? get.port : pod.ports[get.port]
      t.equal(port, apiPort, `${k} calls the API port`)
      return { kind: k, url: `http://127.0.0.1:${hostPort}${get.path}` }
    })
    const readiness = probes.find((p) => p.kind === 'readinessProbe')?.url ?? ''
    t.match(readiness, /\/readyz$/, 'readiness is /readyz')
    await waitFor200(t, platform, readiness)
    t.comment(`ready ${((performance.now() - started) / 1000).toFixed(1)} s after docker start`)
    for (const p of probes) t.equal((await fetch(p.url)).status, 200, `${p.kind} answers 200 on ${new URL(p.url).pathname}`)
    await checkProcess(t, platform, [...(pod.entrypoint ?? (await env.docker.getImage(env.image.id).inspect()).Config.Entrypoint ?? []), ...args])

    // an event, with the admin token the chart made, stored in JetStream as the platform's NATS login sees it
    const token = secretData(find(objects, 'Secret', `${FULL}-api-tokens`))['admin-token']
    const event = { specversion: '1.0', id: `chart-image-${process.pid}`, source: 'test/helm', type: 'message.received', provider: 'whatsapp', instance: 'phone-1', data: { kind: 'text', text: 'from the chart', providerMessageId: `m-${process.pid}`, fromSelf: false, forwarded: false } }
    const res = await fetch(`http://127.0.0.1:${hostPort}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(event) })
    const body = (await res.json()) as { seq: number; duplicate: boolean; subject: string }
    t.equal(res.status, 202, JSON.stringify(body))
    t.equal(body.duplicate, false)
    const login = JSON.parse(secretData(find(objects, 'Secret', `${FULL}-nats`))['credentials.json'] ?? '{}') as { user: string; password: string }
    const nc = await connect({ servers: `127.0.0.1:${nats.ports.client}`, user: login.user, pass: login.password, reconnect: false })
    t.teardown(() => nc.close())
    const stored = await (await jetstreamManager(nc)).streams.getMessage(EVENTS_STREAM, { seq: body.seq })
    t.equal(stored?.subject, body.subject)
    t.match(stored?.json<{ id: string; data: { text: string } }>(), { id: event.id, data: { text: 'from the chart' } }, 'the event is in JetStream')

    // while it runs, what it wrote in its data volume is its own, in the fsGroup (the emptyDir's setgid)
    const written = await readdir(platform.dataDir)
    t.ok(written.length > 0, `it wrote its data folder: ${written.join(', ')}`)
    for (const name of written) {
      const st = await stat(join(platform.dataDir, name))
      t.same([st.uid, st.gid], [65532, 65532], `/data/${name} is 65532:65532`)
    }

    // the kubelet runs the preStop sleep, then SIGTERM with what is left of the grace period
    const grace = pod.terminationGracePeriodSeconds - pod.preStopSleepSeconds
    const stopping = performance.now()
    const code = await platform.stop(grace * 1000)
    const stopMs = performance.now() - stopping
    t.equal(code, 0, `SIGTERM drains and exits 0 (${stopMs.toFixed(0)} ms, ${grace} s allowed)`, { logs: code === 0 ? '' : await platform.logs() })
    t.ok(stopMs < grace * 1000, 'within the grace period, not killed at its end')
  })
}

// Run inside the container: what the kernel says of the platform's process (pid 1) and which
// mounts it can write, so the rendered settings are shown to take effect, not only to be passed.
const PROBE = `const fs = require('fs')
const status = Object.fromEntries(fs.readFileSync('/proc/1/status', 'utf8').split('\\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim().split(/\\s+/)]))
const write = (dir) => { try { fs.writeFileSync(dir + '/.probe', 'x'); fs.unlinkSync(dir + '/.probe'); return 'ok' } catch (e) { return e.code } }
console.log(JSON.stringify({ status, cmdline: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').slice(0, -1), writes: Object.fromEntries(['/', '/opt/omni', '/data', '/tmp', '/etc/omni/nats', '/etc/omni/tokens'].map((d) => [d, write(d)])) }))`

async function checkProcess(t: Test, platform: RunningPlatform, cmdline: string[]): Promise<void> {
  if (!env) return
  const r = await execInPlatform(env, platform.id, ['/opt/omni/node', '-e', PROBE])
  t.equal(r.exitCode, 0, r.stderr)
  const seen = JSON.parse(r.stdout) as { status: Record<string, string[]>; cmdline: string[]; writes: Record<string, string> }
  t.same(seen.cmdline, cmdline, 'the platform process runs the rendered arguments (with the three rewrites)')
  t.same(seen.status.Uid, ['65532', '65532', '65532', '65532'], 'runAsUser')
  t.same(seen.status.Gid, ['65532', '65532', '65532', '65532'], 'runAsGroup')
  t.ok(seen.status.Groups?.includes('65532'), 'fsGroup among its groups')
  t.same([seen.status.CapPrm, seen.status.CapEff, seen.status.CapBnd], [['0000000000000000'], ['0000000000000000'], ['0000000000000000']], 'no capabilities (drop ALL)')
  t.same(seen.status.NoNewPrivs, ['1'], 'allowPrivilegeEscalation: false')
  t.same(seen.status.Seccomp, ['2'], 'seccomp RuntimeDefault: the engine\'s default filter')
  t.same(seen.writes, { '/': 'EROFS', '/opt/omni': 'EROFS', '/data': 'ok', '/tmp': 'ok', '/etc/omni/nats': 'EROFS', '/etc/omni/tokens': 'EROFS' }, 'read-only root and secret mounts; /data and /tmp writable')
}

/** Polls `url` (bounded: 60 s) until it answers 200; fails with the container's logs otherwise. */
async function waitFor200(t: Test, platform: RunningPlatform, url: string): Promise<void> {
  const until = Date.now() + 60_000
  while (Date.now() < until) {
    if (await fetch(url).then((r) => r.status === 200, () => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  t.fail(`no 200 from ${url} within 60 s; logs:\n${await platform.logs()}`)
  throw new Error('not ready')
}
