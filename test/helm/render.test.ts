import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { CHART, HELM_VERSIONS, REPO, find, helm, helmHome, helmMissing, podSpec, render, secretData, valueSets, type K8sObject } from '../fixtures/helm.ts'

// helm lint --strict and helm template, with helm 3 and helm 4, for every value set in ci/: each
// renders, both helms render the same objects, and each set yields what its name promises.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)

t.test('the chart versions follow package.json', { skip: missing }, async (t) => {
  const chart = parse(await readFile(join(CHART, 'Chart.yaml'), 'utf8')) as { apiVersion: string; appVersion: string }
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }
  t.equal(chart.apiVersion, 'v2')
  t.equal(chart.appVersion, pkg.version, 'appVersion is the platform version the image is tagged with')
})

/** Secrets the chart makes hold random values: compare helm 3 and 4 without them. */
const withoutRandom = (objects: K8sObject[]) => objects.map((o) => (o.kind === 'Secret' ? { ...o, data: Object.keys((o as { data?: object }).data ?? {}) } : o))

t.test('helm lint --strict and helm template pass for every value set with helm 3 and helm 4, alike', { skip: missing }, async (t) => {
  const env = await helmHome(t)
  const sets = await valueSets()
  t.ok(Object.keys(sets).length >= 6, `at least six value sets (${Object.keys(sets).join(', ')})`)
  for (const [name, file] of Object.entries(sets)) {
    const rendered: Partial<Record<string, K8sObject[]>> = {}
    for (const v of HELM_VERSIONS) {
      const lint = await helm(v, ['lint', '--strict', CHART, '-f', file], env)
      t.ok(lint.ok, `helm ${v} lint --strict ${name}`, { output: lint.stdout + lint.stderr })
      rendered[v] = await render(v, env, [file])
    }
    t.same(withoutRandom(rendered.v4 ?? []), withoutRandom(rendered.v3 ?? []), `${name}: helm 3 and helm 4 render the same objects`)
  }
})

t.test('each value set renders what its name says', { skip: missing }, async (t) => {
  const env = await helmHome(t)
  const sets = await valueSets()
  const get = async (name: string) => {
    const file = sets[name]
    if (!file) throw new Error(`value set ${name} is missing from ci/`)
    return render('v4', env, [file])
  }
  const full = 'omni-omni-fabric'
  const argsOf = (o: K8sObject) => podSpec(o)?.containers[0]?.args ?? []
  const natsConf = (objects: K8sObject[]) => (find(objects, 'ConfigMap', `${full}-nats-config`) as { data: { 'nats.conf': string } }).data['nats.conf']

  const defaults = await get('defaults')
  const platform = find(defaults, 'StatefulSet', full)
  t.equal((platform as { spec: { replicas: number } }).spec.replicas, 1, 'embedded ClickHouse: one platform pod, a StatefulSet')
  t.match(JSON.stringify((platform as { spec: object }).spec), /volumeClaimTemplates/, 'its data folder on a PVC')
  t.match(podSpec(platform)?.containers[0]?.image, /^omni-fabric:\d+\.\d+\.\d+-full$/, 'the image with the embedded engine')
  t.match(natsConf(defaults), /sync_interval: always/)
  t.notMatch(natsConf(defaults), /cluster \{/, 'one NATS server: no routes')
  t.equal((find(defaults, 'StatefulSet', `${full}-nats`) as { spec: { replicas: number } }).spec.replicas, 1)
  t.ok(argsOf(platform).includes('--replicas=1'), 'one copy of each stream on one NATS server')

  const ext = await get('external-clickhouse-3-replicas')
  const dep = find(ext, 'Deployment', full)
  t.equal((dep as { spec: { replicas: number } }).spec.replicas, 3)
  t.ok(argsOf(dep).includes('--clickhouse-url=http://clickhouse.data.svc:8123'))
  t.match(podSpec(dep)?.containers[0]?.image, /-slim$/, 'the slim image: no embedded engine')
  t.notOk(ext.some((o) => o.kind === 'StatefulSet' && o.metadata.name === full), 'no platform StatefulSet')

  const nats3 = await get('nats-3-replicas')
  t.equal((find(nats3, 'StatefulSet', `${full}-nats`) as { spec: { replicas: number } }).spec.replicas, 3)
  t.match(natsConf(nats3), /cluster \{[^}]*include "secret\/routes\/routes.conf"/, 'the cluster block takes its routes from the Secret')
  const routesConf = secretData(find(nats3, 'Secret', `${full}-nats-routes`))['routes.conf'] ?? ''
  const routes = routesConf.match(/@[^"]+:6222/g) ?? []
  t.same(routes, [0, 1, 2].map((i) => `@${full}-nats-${i}.${full}-nats-headless.omni-test.svc.cluster.local:6222`), 'a route to each of the three servers, with the routes\' login')
  t.match(routesConf, /authorization \{ user: "route", password: "[A-Za-z0-9]{32}" \}/, 'and the login other servers must present')
  t.ok(find(nats3, 'PodDisruptionBudget', `${full}-nats`), 'the NATS cluster keeps its quorum through drains')
  const nats3Platform = nats3.find((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.name === full) as K8sObject
  t.ok(argsOf(nats3Platform).includes('--replicas=3'), 'the platform keeps three copies of each stream and bucket on the 3-server NATS')

  const hub = await get('hub')
  t.match(natsConf(hub), /leafnodes \{\n {2}host: "0.0.0.0"\n {2}port: 7422/, 'the hub listens for leaf nodes')
  t.match(natsConf(hub), /domain: "hub-a"/)
  t.same((find(hub, 'Service', `${full}-nats-leafnodes`) as { spec: { ports: { name: string; port: number }[] } }).spec.ports.map((p) => [p.name, p.port]), [['leafnodes', 7422]], 'the leafnode port on its own Service')
  t.ok(find(hub, 'Secret', `${full}-mesh-members`), 'a login made for each member')

  const leaf = await get('leaf')
  t.match(natsConf(leaf), /remotes: \[\n(?: *#.*\n)? *\{ include "secret\/mesh\/remote-urls.conf"/, 'the leaf dials its hub with the login from the Secret')
  t.notMatch(natsConf(leaf), /leaf-password-for-tests/, 'the password is not in the ConfigMap')
  t.ok(argsOf(find(leaf, 'StatefulSet', full)).includes('--mesh=/etc/omni/mesh/mesh.yaml'))

  const edge = await get('ingress-servicemonitor-hpa')
  t.ok(find(edge, 'Ingress', full))
  t.ok(find(edge, 'ServiceMonitor', full))
  t.ok(find(edge, 'HorizontalPodAutoscaler', full))
  t.notOk('replicas' in (find(edge, 'Deployment', full) as { spec: object }).spec, 'the HPA owns the replica count')
})

t.test('NOTES.txt says how to reach the API and where the admin token is', { skip: missing }, async (t) => {
  // helm 4 renders NOTES without a cluster (helm 3's dry run asks the API server for its version)
  const env = await helmHome(t)
  const r = await helm('v4', ['install', 'omni', CHART, '--dry-run=client', '--namespace', 'omni-test'], env)
  t.ok(r.ok, 'helm install --dry-run=client', { stderr: r.stderr })
  const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'))
  t.match(notes, /kubectl -n omni-test port-forward svc\/omni-omni-fabric 8080:8080/)
  t.match(notes, /get secret omni-omni-fabric-api-tokens -o jsonpath='\{\.data\.admin-token\}' \| base64 -d/)
})
