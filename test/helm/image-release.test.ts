import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import t, { type Test } from 'tap'
import { freePort } from '../../bench/lib/mesh-servers.ts'
import { platformImageTag, type ImageVariant } from '../../src/image/mod.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { podContainerRun, rewriteOnce } from '../fixtures/helm-container.ts'
import { freePorts, layOutServer, startServer, withFreshPorts } from '../fixtures/helm-nats.ts'
import { REPO, find, helmHome, helmMissing, podSpec, render, secretData, valueSets, type K8sObject } from '../fixtures/helm.ts'
import { runPlatform, testPlatformImage, type RunningPlatform } from '../fixtures/platform-image.ts'

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
    t.match(readiness, /\/readyz$/)
    await waitFor200(t, platform, readiness)
    t.comment(`ready ${((performance.now() - started) / 1000).toFixed(1)} s after docker start`)
    for (const p of probes) t.equal((await fetch(p.url)).status, 200, `${p.kind} answers 200 on ${new URL(p.url).pathname}`)

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

    // the kubelet runs the preStop sleep, then SIGTERM with what is left of the grace period
    const grace = pod.terminationGracePeriodSeconds - pod.preStopSleepSeconds
    const stopping = performance.now()
    const code = await platform.stop(grace * 1000)
    const stopMs = performance.now() - stopping
    t.equal(code, 0, `SIGTERM drains and exits 0 (${stopMs.toFixed(0)} ms, ${grace} s allowed)`, { logs: code === 0 ? '' : await platform.logs() })
    t.ok(stopMs < grace * 1000, 'within the grace period, not killed at its end')
  })
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
