import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseByteLimit } from '../../cmd/lib/parse.ts'
import { ensureStreams } from '../../src/jetstream/topology.ts'
import { linkDenies } from '../../src/mesh/link-denies.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { renderAuthorization, renderTopology } from '../../src/server/topology-config.ts'
import { checkConfig, freePorts, layOutServer, startServer, withFreshPorts } from '../fixtures/helm-nats.ts'
import { find, helmHome, helmMissing, podSpec, render, secretData, valueSets, type K8sObject } from '../fixtures/helm.ts'

// The nats-server configuration the chart renders, run with the real binary ($OMNI_NATS_SERVER):
// it passes `nats-server -t`, starts, admits the platform with the login from the rendered
// Secret (and nobody else), and does what the value set says: JetStream with sync always; a
// three-server cluster over its routes; a leaf that links to its hub with the hub's own login.
// The mesh parts must equal what src/mesh writes for a node that runs its own server.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const FULL = 'omni-omni-fabric'

async function renderSet(t: Test, name: string, extra: string[] = []): Promise<K8sObject[]> {
  const file = (await valueSets())[name]
  if (!file) throw new Error(`value set ${name} is missing`)
  return render('v4', await helmHome(t), [file], extra)
}

const platformLogin = (objects: K8sObject[]) => JSON.parse(secretData(find(objects, 'Secret', `${FULL}-nats`))['credentials.json'] ?? '') as { user: string; password: string }

t.test('defaults: one server, JetStream syncing always, the platform login only', { skip: missing }, async (t) => {
  const objects = await renderSet(t, 'defaults')
  const server = await withFreshPorts(async () => {
    const s = await layOutServer(t, objects, FULL, 0, await freePorts(1))
    const checked = await checkConfig(s)
    t.ok(checked.ok, 'nats-server -t accepts it', { output: checked.output })
    await startServer(t, s, '/healthz?js-enabled-only=true')
    return s
  })
  const varz = (await (await fetch(`http://127.0.0.1:${server.ports.monitor}/varz`)).json()) as { server_name: string; jetstream?: { config?: { sync_always?: boolean } } }
  t.equal(varz.server_name, `${FULL}-nats-0`, 'named after its pod')
  t.equal(varz.jetstream?.config?.sync_always, true, 'sync_interval: always took effect')

  const login = platformLogin(objects)
  const nc = await connect({ servers: `127.0.0.1:${server.ports.client}`, user: login.user, pass: login.password, reconnect: false })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'HELM_CHECK', subjects: ['helm.check'] })
  t.equal((await jsm.streams.info('HELM_CHECK')).config.name, 'HELM_CHECK', 'the platform login uses JetStream')
  await t.rejects(connect({ servers: `127.0.0.1:${server.ports.client}`, reconnect: false }), /Authorization Violation/, 'no anonymous client')
  await t.rejects(connect({ servers: `127.0.0.1:${server.ports.client}`, user: login.user, pass: `${login.password}x`, reconnect: false }), /Authorization Violation/, 'no wrong password')
})

t.test('nats.replicas 3: three servers form a cluster over the rendered routes and replicate a stream', { skip: missing }, async (t) => {
  const objects = await renderSet(t, 'nats-3-replicas')
  const ports = await withFreshPorts(async () => {
    const ports = await freePorts(3)
    const servers = await Promise.all([0, 1, 2].map((i) => layOutServer(t, objects, FULL, i, ports)))
    for (const s of servers) t.ok((await checkConfig(s)).ok, `nats-server -t accepts ${s.name}'s config`)
    // full /healthz: JetStream current with an elected meta leader, which needs the routes
    await Promise.all(servers.map((s) => startServer(t, s, '/healthz')))
    return ports
  })
  const login = platformLogin(objects)
  const nc = await connect({ servers: `127.0.0.1:${ports[0]?.client}`, user: login.user, pass: login.password, reconnect: false })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  const replicas = (await jsm.streams.add({ name: 'HELM_R3', subjects: ['helm.r3'], num_replicas: 3 })).config.num_replicas
  t.equal(replicas, 3, 'a stream with three replicas is created')
  const info = await jsm.streams.info('HELM_R3')
  t.equal(info.cluster?.replicas?.length, 2, 'a leader and two followers')
  const routes = async () => ((await (await fetch(`http://127.0.0.1:${ports[0]?.monitor}/routez`)).json()) as { routes: { remote_name: string }[] }).routes.map((r) => r.remote_name)
  t.same([...new Set(await routes())].sort(), [`${FULL}-nats-1`, `${FULL}-nats-2`], 'server 0 has routes to both others')

  // a server without the routes' login cannot join the cluster; one started beside it with the
  // rendered login does, so the wait is long enough for a route to form (a control: without it the
  // refusal would also "pass" when routes were merely slow)
  const password = secretData(find(objects, 'Secret', `${FULL}-nats-routes`)).password ?? ''
  const extra = async (name: string, login: string) => {
    const [own] = await freePorts(1)
    const dir = await mkdtemp(join(tmpdir(), `omni-helm-${name}-`))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const config = join(dir, 'nats.conf')
    await writeFile(config, `listen: "127.0.0.1:${own?.client}"\nhttp: "127.0.0.1:${own?.monitor}"\nserver_name: ${name}\ncluster { name: "${FULL}-nats", listen: "127.0.0.1:${own?.cluster}", routes: ["nats://${login}127.0.0.1:${ports[0]?.cluster}"] }\n`)
    await startServer(t, { name, dir, config, ports: own ?? { client: 0, monitor: 0, cluster: 0, leafnodes: 0 } }, '/healthz?js-server-only=true')
  }
  await extra('intruder', '')
  await extra('control', `route:${encodeURIComponent(password)}@`)
  let seen: string[] = []
  for (let i = 0; i < 100 && !seen.includes('control'); i++) {
    seen = await routes()
    if (!seen.includes('control')) await new Promise((r) => setTimeout(r, 100))
  }
  t.ok(seen.includes('control'), 'a server with the rendered routes\' login joins (the control)', { seen })
  t.notOk((await routes()).includes('intruder'), 'a route without the login is refused', { seen })
})

/** Bytes of a Kubernetes storage quantity (binary suffixes, as the chart's value sets use). */
const quantityBytes = (q: string) => {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(q)
  if (!m) throw new Error(`unexpected quantity ${q}`)
  return Number(m[1]) * 1024 ** (['', 'Ki', 'Mi', 'Gi', 'Ti'].indexOf(m[2] ?? ''))
}

for (const set of ['defaults']) {
  t.test(`${set}: the platform's streams, at the byte limits the chart passes, fit in the storage the NATS PVC gives`, { skip: missing }, async (t) => {
    // JetStream reserves each stream's max_bytes against the server's storage limit, by default 75%
    // of the free disk at start: on a 10Gi PVC that was 7.5 GiB, and the default 8GiB + 8GiB
    // limits made `omni up` fail with "insufficient storage resources available". The limit must
    // come from the PVC, not from whatever disk this test runs on.
    const objects = await renderSet(t, set)
    const sts = find(objects, 'StatefulSet', `${FULL}-nats`)
    const pvc = (sts.spec as { volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] }).volumeClaimTemplates[0]?.spec.resources.requests.storage ?? ''
    const platform = objects.find((o) => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.name === FULL)
    const args = (platform && podSpec(platform)?.containers[0]?.args) ?? []
    const flag = (name: string) => parseByteLimit(args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? '', name)
    const server = await withFreshPorts(async () => {
      const s = await layOutServer(t, objects, FULL, 0, await freePorts(1))
      await startServer(t, s, '/healthz?js-server-only=true')
      return s
    })
    const jsz = (await (await fetch(`http://127.0.0.1:${server.ports.monitor}/jsz`)).json()) as { config: { max_storage: number } }
    t.ok(jsz.config.max_storage <= quantityBytes(pvc), `the server's storage limit (${jsz.config.max_storage} bytes) is within its ${pvc} PVC`)
    const login = platformLogin(objects)
    const nc = await connect({ servers: `127.0.0.1:${server.ports.client}`, user: login.user, pass: login.password, reconnect: false })
    t.teardown(() => nc.close())
    await t.resolves(ensureStreams(await jetstreamManager(nc), { maxBytes: flag('--stream-max-bytes'), rawMaxBytes: flag('--raw-max-bytes') }), 'the platform creates its streams with the rendered limits')
  })
}

/** The fields of `{ …, permissions: P, allowed_connection_types: C }` lines, in order. */
const userRules = (text: string) => [...text.matchAll(/permissions: (\{.*\}), allowed_connection_types: (\[[^\]]*\])/g)].map((m) => `${m[1]} ${m[2]}`)

t.test('hub and leaf: the mesh settings are src/mesh\'s, and the leaf links to the hub with the hub\'s login', { skip: missing }, async (t) => {
  const hubObjects = await renderSet(t, 'hub')
  const a1 = JSON.parse(secretData(find(hubObjects, 'Secret', `${FULL}-mesh-members`))['a1.json'] ?? '') as { user: string; password: string }
  t.equal(a1.user, 'a1', 'the hub made a login for member a1')
  t.match(a1.password, /^[A-Za-z0-9_-]{16,}$/, 'of the form omni mesh credentials writes')
  const leafObjects = await renderSet(t, 'leaf', ['--set', `mesh.credentials.password=${a1.password}`])
  const hubConf = (find(hubObjects, 'ConfigMap', `${FULL}-nats-config`) as { data: Record<string, string> }).data['nats.conf'] ?? ''
  const leafConf = (find(leafObjects, 'ConfigMap', `${FULL}-nats-config`) as { data: Record<string, string> }).data['nats.conf'] ?? ''

  // what a node that runs its own server writes, for the same mesh settings
  const x = { user: 'x', password: 'x' }
  const members = [
    { node: 'a1', cluster: 'a' },
    { node: 'a2', cluster: 'a' },
    { node: 'hub-b', cluster: 'b' },
  ]
  const hubMesh = { node: 'hub-a', cluster: 'a', role: 'hub', hubs: [], members: members.map((m) => ({ ...m, credentials: x })), peers: [{ node: 'a1', cluster: 'a' }, { node: 'a2', cluster: 'a' }], listen: { host: '0.0.0.0', port: 7422 } } as unknown as MeshConfig
  t.same(userRules(hubConf), userRules(renderAuthorization(x, meshServerTopology(hubMesh)).join('\n')), 'the hub\'s users have exactly the permissions src/mesh gives them')
  const leafMesh = { node: 'a1', cluster: 'a', role: 'leaf', hubs: ['nats-leaf://hub.example.net:7422'], credentials: x, members: [], peers: [{ node: 'a2', cluster: 'a' }, { node: 'hub-a', cluster: 'a' }] } as unknown as MeshConfig
  const denies = linkDenies(leafMesh)
  const list = (xs: readonly string[]) => `[${xs.map((s) => JSON.stringify(s)).join(', ')}]`
  t.ok(leafConf.includes(`deny_imports: ${list(denies.imports)}, deny_exports: ${list(denies.exports)}`), 'the leaf refuses on its link what src/mesh refuses')
  t.match(renderTopology(meshServerTopology(leafMesh)).join('\n'), /ignore_discovered_servers: true/)
  t.match(leafConf, /ignore_discovered_servers: true/, 'and ignores servers the hub advertises, as src/mesh does')
  t.match(leafConf, /domain: "a1"/, 'the leaf\'s JetStream domain is its node name')
  t.equal(userRules(leafConf)[0], userRules(renderAuthorization(x, meshServerTopology(leafMesh)).join('\n'))[0], 'the platform user is limited as src/mesh limits it')

  // a federated hub (a hub that is also a leaf of another cluster's hub) refuses more on its link
  const fedObjects = await renderSet(t, 'hub', ['--set', 'mesh.hubs={nats-leaf://hub-b.example.net:7422}', '--set', 'mesh.credentials.user=hub-a', '--set', 'mesh.credentials.password=federation-password-0123456789'])
  const fedConf = (find(fedObjects, 'ConfigMap', `${FULL}-nats-config`) as { data: Record<string, string> }).data['nats.conf'] ?? ''
  const fedDenies = linkDenies({ ...hubMesh, hubs: ['nats-leaf://hub-b.example.net:7422'] } as MeshConfig)
  t.ok(fedConf.includes(`deny_imports: ${list(fedDenies.imports)}, deny_exports: ${list(fedDenies.exports)}`), 'a federated hub refuses on its link what src/mesh refuses (cluster deliveries too)')
  t.match(fedConf, /leafnodes \{\n {2}host: "0\.0\.0\.0"\n {2}port: 7422\n {2}remotes: \[/, 'and both listens for its leaves and dials the other hub')

  // run both: the leaf dials the hub's leafnode port with the login the hub's Secret holds
  const { hub, leaf } = await withFreshPorts(async () => {
    // one call, so the two servers' ports differ too
    const [hubPorts, leafPorts] = await freePorts(2)
    if (!hubPorts || !leafPorts) throw new Error('no ports')
    const hub = await layOutServer(t, hubObjects, FULL, 0, [hubPorts])
    const leaf = await layOutServer(t, leafObjects, FULL, 0, [leafPorts], hubPorts.leafnodes)
    t.ok((await checkConfig(hub)).ok, 'nats-server -t accepts the hub')
    t.ok((await checkConfig(leaf)).ok, 'nats-server -t accepts the leaf')
    await startServer(t, hub)
    await startServer(t, leaf)
    return { hub, leaf }
  })
  let leafs = 0
  for (let i = 0; i < 50 && leafs < 1; i++) {
    const leafz = (await (await fetch(`http://127.0.0.1:${hub.ports.monitor}/leafz`)).json()) as { leafnodes: number; leafs?: { name?: string }[] }
    leafs = leafz.leafnodes
    if (leafs < 1) await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(leafs, 1, 'the leaf is linked to the hub')
  const login = platformLogin(leafObjects)
  const nc = await connect({ servers: `127.0.0.1:${leaf.ports.client}`, user: login.user, pass: login.password, reconnect: false })
  t.teardown(() => nc.close())
  t.equal((await (await jetstreamManager(nc)).getAccountInfo()).domain, 'a1', 'the platform finds the domain omni up --nats --mesh requires')
})
