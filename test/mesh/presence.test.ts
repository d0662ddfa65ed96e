import t from 'tap'
import type { Test } from 'tap'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import { startPresence, type Presence } from '../../src/mesh/presence.ts'
import { watchLink } from '../../src/mesh/link.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import type { ManagedNatsServer } from '../../src/server/mod.ts'
import { eventually, leafCount, MESH_PLATFORM, meshTopology, startMeshServers } from '../fixtures/mesh.ts'
import { startTestNats } from '../fixtures/nats.ts'

// a fast interval keeps the test short; the bound is the same rule: down after 3 missed hellos
const INTERVAL = 200
const DOWN_BOUND_MS = 3 * INTERVAL + 2 * INTERVAL + 1000

async function platform(t: Test, server: ManagedNatsServer): Promise<NatsConnection> {
  const nc = await connectNats(server.url, { name: 'presence-test', credentials: MESH_PLATFORM })
  t.teardown(() => nc.close())
  return nc
}

async function presenceOn(t: Test, server: ManagedNatsServer, mesh: MeshConfig, opts: { linkUp?: () => Promise<void>; linkDrops?: () => number } = {}): Promise<Presence> {
  const p = await startPresence({ mesh, nc: await platform(t, server), logger: silentLogger(), intervalMs: INTERVAL, ...opts })
  t.teardown(() => p.close())
  return p
}

const stateOf = (p: Presence, node: string) => p.peers().find((x) => x.node === node)

t.test('peers go up, down within the bound when a leaf server stops, and up again when it is back', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const [hub, a1, a2] = await Promise.all([presenceOn(t, servers['hub-a']!, topo['hub-a']), presenceOn(t, servers.a1!, topo.a1), presenceOn(t, servers.a2!, topo.a2)])
  await eventually('a1 to see a2 and the hub up', () => stateOf(a1, 'a2')?.state === 'up' && stateOf(a1, 'hub-a')?.state === 'up')
  await eventually('the hub to see both leaves up', () => stateOf(hub, 'a1')?.state === 'up' && stateOf(hub, 'a2')?.state === 'up')
  t.equal(stateOf(a1, 'b1')?.state, 'unknown', 'a configured peer never heard from is unknown')
  t.equal(stateOf(a1, 'a2')?.role, 'leaf')
  t.ok(stateOf(a1, 'a2')?.configured)
  t.same(a1.clashes(), [], 'nobody else speaks as a1')

  await a2.close()
  const stopped = Date.now()
  await servers.a2!.close()
  await eventually('a1 to see a2 down', () => stateOf(a1, 'a2')?.state === 'down', DOWN_BOUND_MS)
  const tookMs = Date.now() - stopped
  t.ok(tookMs <= DOWN_BOUND_MS, `a2 seen down after ${tookMs} ms (bound ${DOWN_BOUND_MS} ms)`)
  // the hub times a2 out on its own clock: it may see it a moment after a1 does, within the same bound
  await eventually('the hub to see a2 down', () => stateOf(hub, 'a2')?.state === 'down', Math.max(0, DOWN_BOUND_MS - (Date.now() - stopped))).catch(() => undefined)
  t.equal(stateOf(hub, 'a2')?.state, 'down', 'the hub sees it down too, within the same bound')
  t.equal(stateOf(a1, 'hub-a')?.state, 'up', 'the others stay up')
  const downSince = stateOf(a1, 'a2')!.since

  // the same node back on a fresh server, as after a restart
  const again = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'a2', topology: meshServerTopology(topo.a2) })
  await eventually('a2 to join the hub again', async () => (await leafCount(again)) >= 1)
  await presenceOn(t, again, topo.a2)
  await eventually('a1 to see a2 up again', () => stateOf(a1, 'a2')?.state === 'up', DOWN_BOUND_MS)
  t.ok(Date.parse(stateOf(a1, 'a2')!.since) >= Date.parse(downSince), 'up since after the down')
})

t.test('a second process speaking as the same node is refused at start, and the first one shows the clash', async (t) => {
  const topo = await meshTopology()
  const servers = await startMeshServers(t, { 'hub-a': topo['hub-a'], a1: topo.a1, a2: topo.a2 })
  const firstLink = watchLink(topo.a1, servers.a1!.monitorUrl, INTERVAL, silentLogger())
  t.teardown(() => firstLink.close())
  const first = await presenceOn(t, servers.a1!, topo.a1)
  const a2 = await presenceOn(t, servers.a2!, topo.a2)
  await eventually('a2 to see a1', () => stateOf(a2, 'a1')?.state === 'up')

  t.equal(firstLink.status().state, 'up')
  t.equal(firstLink.status().remote, 'hub-a')

  // the same credentials used on another machine: a second server joins the hub as a1. NATS keeps
  // one leaf connection per server name, so the two take turns and never hear each other: the
  // twin sees its link dropped again and again
  const twin = await startTestNats(t, { auth: MESH_PLATFORM, serverName: 'a1', topology: meshServerTopology(topo.a1) })
  const link = watchLink(topo.a1, twin.monitorUrl, INTERVAL, silentLogger())
  t.teardown(() => link.close())
  const started = Date.now()
  await t.rejects(
    presenceOn(t, twin, topo.a1, { linkUp: () => link.waitUp(10_000), linkDrops: () => link.drops() }),
    { code: 'OMNI_ERR_MESH_NAME_TAKEN', message: /the hub dropped this node's link \d+ times .* another server already runs as mesh node "a1" of cluster "a" .*Duplicate Remote LeafNode Connection/ },
    'the twin does not start',
  )
  t.ok(Date.now() - started < 15_000, `refused in ${Date.now() - started} ms`)
  t.ok(firstLink.status().dropsLastMinute >= 1, 'the running node saw its link dropped meanwhile')
  await twin.close()

  // a second process on the very same server speaks on the same hello subject: its hello is heard
  await t.rejects(presenceOn(t, servers.a1!, topo.a1), { code: 'OMNI_ERR_MESH_NAME_TAKEN', message: /another process already speaks as mesh node "a1" of cluster "a" \(started / })
  t.equal(first.clashes().length, 0, 'a refused twin never said hello: the first node saw nothing to report')

  // a process that skips the check (an older version) and speaks anyway: the running node shows it
  const rogue = await platform(t, servers.a1!)
  rogue.publish('mesh.hello.a.a1', JSON.stringify({ node: 'a1', cluster: 'a', role: 'leaf', instance: 'other-process', startedAt: new Date().toISOString() }))
  await eventually('the first to show the clash', () => first.clashes().some((c) => c.instance === 'other-process'))
  // and a hello whose body names another node than its subject is not believed
  rogue.publish('mesh.hello.a.a1', JSON.stringify({ node: 'a2', cluster: 'a', role: 'leaf', instance: 'liar', startedAt: new Date().toISOString() }))
  await new Promise((r) => setTimeout(r, 3 * INTERVAL))
  t.notOk(first.clashes().some((c) => c.instance === 'liar'))
  t.notOk(a2.peers().some((p) => p.node === 'a2'), 'a2 did not take it for itself or a peer')
})
