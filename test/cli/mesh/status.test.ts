import t from 'tap'
import type { MeshConfig } from '../../../src/mesh/config.ts'
import type { MeshStatus } from '../../../src/mesh/status.ts'
import { omni } from '../../fixtures/cli.ts'
import { startTestFabric } from '../../fixtures/fabric.ts'
import { eventually, meshTopology } from '../../fixtures/mesh.ts'
import { startServingMeshNode } from '../../fixtures/mesh-serving-node.ts'
import { NOTES_PIPELINE } from '../../fixtures/api.ts'
import { formatMeshStatus } from '../../../cmd/commands/mesh/status.ts'

const fast = (c: MeshConfig): MeshConfig => ({ ...c, presenceIntervalMs: 200 })

t.test('omni mesh status asks the running node, as a table or JSON', async (t) => {
  const topo = await meshTopology()
  const hub = await startServingMeshNode(t, fast(topo['hub-a']))
  const a1 = await startServingMeshNode(t, fast(topo.a1))
  await eventually('a1 to see the hub', async () => (await a1.node.mesh.status()).enabled && (await a1.node.mesh.status() as MeshStatus).peers.some((p) => p.node === 'hub-a' && p.state === 'up'))
  const ask = (node: typeof a1, ...args: string[]) => omni(['mesh', 'status', '--nats', node.node.describe().nats.url, '--nats-credentials', node.credentialsFile, ...args])

  const table = await ask(a1)
  t.equal(table.code, 0, table.stderr)
  t.match(table.stdout, /^node a1  cluster a  role leaf\n/)
  t.match(table.stdout, /hub link: up to hub-a \(rtt [^)]+\) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  hubs nats-leaf:\/\/127\.0\.0\.1:\d+\n/)
  t.match(table.stdout, /Peers\n\s+NODE\s+CLUSTER\s+ROLE\s+STATE\s+SINCE\s+LAST SEEN\n\s+a2\s+a\s+-\s+unknown/)
  t.match(table.stdout, /\n\s+hub-a\s+a\s+hub\s+up\s+\S+ \S+\s+\d+s ago\n/)
  t.match(table.stdout, /Sources \(inbox per peer\)\n\s+PEER\s+VISIBILITY\s+LAG\s+ACTIVE\s+LAST EVENT\s+RESETS\s+ERROR\n\s+a2\s/)
  t.match(table.stdout, /Traffic since start\n\s+DIRECTION\s+VISIBILITY\s+EVENTS\s+BYTES\n\s+out\s+cluster\s+\d+\s+\d+\n/)
  t.match(table.stdout, /Refused received events\n\s+none\n/)

  const json = await ask(a1, '--json')
  t.equal(json.code, 0, json.stderr)
  const status = JSON.parse(json.stdout) as MeshStatus
  t.match(status, { enabled: true, node: { name: 'a1', cluster: 'a', role: 'leaf' }, link: { state: 'up', remote: 'hub-a' } })

  const ofHub = await ask(hub)
  t.match(ofHub.stdout, /^node hub-a  cluster a  role hub\nhub link: none \(a hub that joins no other hub\)\nleaves connected: a1\n/)
})

t.test('omni mesh status on a node that joined no mesh says so', async (t) => {
  const { server } = await startTestFabric(t, NOTES_PIPELINE)
  const r = await omni(['mesh', 'status', '--nats', server.url])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, 'this node is not on a mesh (start it with omni up --mesh FILE)\n')
  t.same(JSON.parse((await omni(['mesh', 'status', '--json', '--nats', server.url])).stdout), { enabled: false })
})

t.test('omni mesh status with no node on the server is a clear error', async (t) => {
  const { fabric, server } = await startTestFabric(t, NOTES_PIPELINE)
  await fabric.close()
  const r = await omni(['mesh', 'status', '--nats', server.url])
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_UNAVAILABLE: no running node answers on nats:\/\/127\.0\.0\.1:\d+ \(is omni up running there\?\)/)
})

t.test('the table shows missing inboxes, clashes, a flapping link and refusals', async (t) => {
  const at = '2026-12-07T07:00:10.000Z'
  const out = formatMeshStatus({
    enabled: true,
    node: { name: 'a1', cluster: 'a', role: 'leaf', hubs: ['nats-leaf://127.0.0.1:7422'], instance: 'i1' },
    link: { state: 'down', since: '2026-12-07T07:00:09.000Z', hubs: ['nats-leaf://127.0.0.1:7422'], remote: undefined, rtt: undefined, leaves: [], dropsLastMinute: 4, flapping: true },
    peers: [{ node: 'x9', cluster: 'b', role: 'leaf', state: 'down', since: at, lastSeen: '2026-12-07T07:00:00.000Z', startedAt: at, configured: false }],
    clashes: [{ instance: 'i2', startedAt: '2026-12-07T06:59:00.000Z', lastSeen: '2026-12-07T07:00:08.000Z' }],
    inboxes: [
      { peer: 'a2', cluster: 'a', stream: 'MESH_IN_a2', exists: false, messages: 0, lastReceived: undefined, resets: 0, sources: [] },
      { peer: 'hub-a', cluster: 'a', stream: 'MESH_IN_hub-a', exists: true, messages: 3, lastReceived: '2026-12-07T07:00:05.000Z', resets: 1, sources: [{ visibility: 'cluster', lag: 7, activeSecondsAgo: 1.5, error: 'permissions violation' }] },
    ],
    traffic: { events: { in: { cluster: 3 } }, bytes: { in: { cluster: 900 } }, refused: { a2: { 'forged-origin': 2 } } },
    checkedAt: at,
  })
  t.match(out, /hub link: down since 2026-12-07 07:00:09Z/)
  t.match(out, /WARNING: the hub dropped the link 4 times in the last minute: another server may be running as a1\n/)
  t.match(out, /WARNING: another process speaks as a1 \(instance i2, started 2026-12-07 06:59:00Z, last heard 2s ago\)\n/)
  t.match(out, /\n\s+x9 \(not a peer\)\s+b\s+leaf\s+down\s+2026-12-07 07:00:10Z\s+10s ago\n/)
  t.match(out, /\n\s+a2\s+-\s+-\s+-\s+-\s+0\s+no inbox stream yet\n/)
  t.match(out, /\n\s+hub-a\s+cluster\s+7\s+1\.5s ago\s+5s ago\s+1\s+permissions violation\n/)
  t.match(out, /\n\s+in\s+cluster\s+3\s+900\n/)
  t.match(out, /Refused received events\n\s+PEER\s+REASON\s+EVENTS\n\s+a2\s+forged-origin\s+2\n/)
})
