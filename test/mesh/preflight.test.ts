import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createLogger } from '../../src/observability/logger.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { checkHubsReachable, tcpProblem } from '../../src/mesh/preflight.ts'
import { startNode, type OmniNode } from '../../src/node/mod.ts'
import { createNatsCredentialsFile } from '../../src/server/mod.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'
import { freePort, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { startTestNats } from '../fixtures/nats.ts'

/** A logger whose lines the test reads. */
function recordingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => { level: number; msg: string }[] } {
  const out: string[] = []
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void out.push(line) } })
  return { logger, lines: () => out.map((l) => JSON.parse(l) as { level: number; msg: string }) }
}

/** Starts a node that runs its own nats-server with `mesh`, closed when `t` ends. */
async function startMeshNode(t: Test, mesh: MeshConfig, logger = createLogger({ level: 'silent' })): Promise<OmniNode> {
  const dir = t.testdir()
  const node = await startNode({
    nats: { serve: { host: '127.0.0.1', port: await freePort(), storeDir: join(dir, 'nats'), syncInterval: 'always', credentialsFile: join(dir, 'nats-credentials'), logFile: join(dir, 'nats-server.log') } },
    manifests: await writeManifests(t, { 'catalog.yaml': TEST_CATALOG }),
    lookup: testLookup,
    logger,
    watch: false,
    mesh,
  })
  t.teardown(() => node.close())
  return node
}

t.test('a hub URL that refuses connections is named with its reason', async (t) => {
  const port = await freePort()
  t.equal(await tcpProblem(`nats-leaf://127.0.0.1:${port}`), 'ECONNREFUSED')
  const topo = await meshTopology()
  const hubs = [`nats-leaf://127.0.0.1:${port}`, `nats-leaf://127.0.0.1:${await freePort()}`]
  const { logger, lines } = recordingLogger()
  await t.rejects(checkHubsReachable({ ...topo.a1, hubs }, logger), {
    code: 'OMNI_ERR_MESH_HUB_UNREACHABLE',
    message: new RegExp(`no hub of mesh node a1 answers: ${hubs[0]}: ECONNREFUSED; ${hubs[1]}: ECONNREFUSED\\. .*startOffline: true \\(--mesh-start-offline\\)`),
  })
  await checkHubsReachable({ ...topo.a1, hubs, startOffline: true }, logger)
  t.match(lines(), [{ level: 40, msg: /starting offline, the leaf link connects once a hub is up/ }], 'startOffline: a warning instead')
})

t.test('omni up on a leaf whose hub is down fails before its server starts, unless startOffline', async (t) => {
  const topo = await meshTopology()
  await t.rejects(startMeshNode(t, topo.a1), { code: 'OMNI_ERR_MESH_HUB_UNREACHABLE', message: /nats-leaf:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/ })
  const node = await startMeshNode(t, { ...topo.a1, startOffline: true })
  t.equal(node.state, 'running', 'offline, the node runs; its leaf link keeps trying')
})

t.test('a leaf whose login the hub refuses fails naming its credentials file and the hub; the right login joins', async (t) => {
  const topo = await meshTopology()
  await startMeshServers(t, { 'hub-a': topo['hub-a'] })
  const dir = t.testdir()
  const wrong = await createNatsCredentialsFile(join(dir, 'a1.json'), 'a1')
  const started = Date.now()
  await t.rejects(startMeshNode(t, { ...topo.a1, credentials: wrong, credentialsFile: join(dir, 'a1.json') }), {
    code: 'OMNI_ERR_MESH_CREDENTIALS_REFUSED',
    message: new RegExp(`the hub at ${topo.a1.hubs[0]} refused mesh node a1's login \\(user "a1" from ${join(dir, 'a1.json')}\\)`),
  })
  t.ok(Date.now() - started < 12_000, 'within the bound')
  const node = await startMeshNode(t, topo.a1)
  t.equal(node.state, 'running', 'with the credentials the hub lists, the leaf joins')
})

t.test('on an existing server (nats.url) the node writes no config: it runs only when the domain is its name, with a warning', async (t) => {
  const topo = await meshTopology()
  const plain = await startTestNats(t, { auth: MESH_PLATFORM })
  const options = async (url: string) => ({ nats: { url, credentials: MESH_PLATFORM }, manifests: await writeManifests(t, { 'catalog.yaml': TEST_CATALOG }), lookup: testLookup, watch: false, mesh: topo.a2 })
  await t.rejects(startNode({ ...(await options(plain.url)), logger: createLogger({ level: 'silent' }) }), { code: 'OMNI_ERR_CONFIG', message: /whose JetStream domain is not set; it must be "a2"/ })
  const right = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'a2', topology: { domain: 'a2' } })
  const { logger, lines } = recordingLogger()
  const node = await startNode({ ...(await options(right.url)), logger })
  t.teardown(() => node.close())
  t.ok(lines().some((l) => l.level === 40 && /runs on an existing NATS server .* not written by this node/.test(l.msg)), 'with a warning that its config is the server\'s own')
})

t.test('a hub that answers TCP but never makes a leaf link is a warning, not a failure: the link keeps trying', async (t) => {
  // a loopback listener that accepts and says nothing, as a wrong port of another service would
  const held: Socket[] = []
  const silent = createServer((s) => void held.push(s))
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => {
    for (const s of held) s.destroy()
    return new Promise<void>((r) => silent.close(() => r()))
  })
  const topo = await meshTopology()
  const { logger, lines } = recordingLogger()
  const node = await startMeshNode(t, { ...topo.a1, hubs: [`nats-leaf://127.0.0.1:${(silent.address() as { port: number }).port}`] }, logger)
  t.equal(node.state, 'running')
  t.ok(lines().some((l) => l.level === 40 && /the leaf link of mesh node a1 to nats-leaf:\/\/127\.0\.0\.1:\d+ is not up after 5000 ms; it keeps trying/.test(l.msg)), 'a warning names the hub')
})
