import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import t from 'tap'
import { platformImageTag, type ImageVariant } from '../../src/image/mod.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { podContainerRun } from '../fixtures/helm-container.ts'
import { FULL, platformWorkload, runHelmTestPod, startImageRelease, stopImageRelease } from '../fixtures/helm-image-release.ts'
import { REPO, find, helmHome, helmMissing, podSpec, render, secretData, valueSets, type K8sObject } from '../fixtures/helm.ts'
import { testPlatformImage } from '../fixtures/platform-image.ts'

// The platform image run under the local Docker engine with what the chart renders into its
// pod (test/fixtures/helm-image-release.ts: the command line, the environment, the user and
// groups, the read-only root, the dropped capabilities, no-new-privileges, the resource limits
// and every volume mount laid out as the kubelet would), on the host network against the chart's own NATS config run on
// loopback. In make test: the defaults with `clickhouse.enabled: false`, because the slim image
// (the one the suite builds) carries no embedded ClickHouse and no ClickHouse server can be
// stood in here (Debian's is 18.16, too old for the schema). The defaults themselves, with the
// embedded engine, need the full image (≈ 750 MiB in the engine, 15 s or more to build): set
// OMNI_TEST_FULL_IMAGE=1 to run them too.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const NO_CLICKHOUSE = ['--set', 'clickhouse.enabled=false']
const FULL_IMAGE_ENV = 'OMNI_TEST_FULL_IMAGE'
// building both images cold on a busy machine can pass the suite's 120 s per file
if (process.env[FULL_IMAGE_ENV] === '1') t.setTimeout(300_000)

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

  t.test('the slim image runs with exactly what the chart renders: probes answer, an event is stored, helm test passes, SIGTERM exits 0', async (t) => {
    const objects = await render('v4', await helmHome(t), [(await valueSets()).defaults ?? ''], NO_CLICKHOUSE)
    t.equal(platformWorkload(objects).kind, 'Deployment', 'without the embedded engine the platform is a Deployment')
    t.equal(imageOf(objects), env.image.tag, 'the chart names the image the test built')
    const release = await startImageRelease(t, env, objects)
    t.same(release.pod.mounts.map((m) => [m.target, m.readOnly]), [['/data', false], ['/tmp', false], ['/etc/omni/nats', true], ['/etc/omni/tokens', true]], 'every rendered volume mount is mapped')
    t.same({ user: release.pod.user, groups: release.pod.groupAdd, ...release.pod.security }, { user: '65532:65532', groups: ['65532'], readOnlyRoot: true, capDrop: ['ALL'], capAdd: [], noNewPrivileges: true }, 'the restricted settings, from the rendered securityContexts')

    // an event, with the admin token the chart made, stored in JetStream as the platform's NATS login sees it
    const token = secretData(find(objects, 'Secret', `${FULL}-api-tokens`))['admin-token']
    const event = { specversion: '1.0', id: `chart-image-${process.pid}`, source: 'test/helm', type: 'message.received', provider: 'whatsapp', instance: 'phone-1', data: { kind: 'text', text: 'from the chart', providerMessageId: `m-${process.pid}`, fromSelf: false, forwarded: false } }
    const res = await fetch(`${release.base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(event) })
    const body = (await res.json()) as { seq: number; duplicate: boolean; subject: string }
    t.equal(res.status, 202, JSON.stringify(body))
    t.equal(body.duplicate, false)
    const login = JSON.parse(secretData(find(objects, 'Secret', `${FULL}-nats`))['credentials.json'] ?? '{}') as { user: string; password: string }
    const nc = await connect({ servers: `127.0.0.1:${release.nats.ports.client}`, user: login.user, pass: login.password, reconnect: false })
    t.teardown(() => nc.close())
    const stored = await (await jetstreamManager(nc)).streams.getMessage(EVENTS_STREAM, { seq: body.seq })
    t.equal(stored?.subject, body.subject)
    t.match(stored?.json<{ id: string; data: { text: string } }>(), { id: event.id, data: { text: 'from the chart' } }, 'the event is in JetStream')

    // without ClickHouse the helm test Pod ingests and expects the duplicate answer, and reads nothing back
    const helmTest = await runHelmTestPod(t, env, release)
    t.equal(helmTest.exitCode, 0, 'the helm test Pod passes', { output: helmTest.output })
    t.match(helmTest.output, /event \S+ ingested\n/)
    await stopImageRelease(t, release)
  })

  const why = process.env[FULL_IMAGE_ENV] === '1' ? undefined : `the full image (embedded ClickHouse, ≈ 750 MiB) is built only with ${FULL_IMAGE_ENV}=1`
  if (why) t.comment(`skipped: ${why}`)
  t.test('the full image runs the default values: embedded ClickHouse in the StatefulSet\'s volume, helm test reads the event back', { skip: why }, async (t) => {
    const full = await testPlatformImage(t, 'full')
    if (!full) return
    t.comment(`full image ${full.image.tag}: ${full.image.reused ? 'reused' : 'built'} in ${(full.buildMs / 1000).toFixed(1)} s`)
    const objects = await render('v4', await helmHome(t), [(await valueSets()).defaults ?? ''])
    t.equal(platformWorkload(objects).kind, 'StatefulSet', 'the embedded engine: one pod with its volume claim')
    t.equal(imageOf(objects), full.image.tag, 'the chart names the full image')
    const release = await startImageRelease(t, full, objects)
    const helmTest = await runHelmTestPod(t, full, release)
    t.equal(helmTest.exitCode, 0, 'the helm test Pod passes', { output: helmTest.output })
    t.match(helmTest.output, /ingested and read back/)
    await stopImageRelease(t, release)
  })
}
