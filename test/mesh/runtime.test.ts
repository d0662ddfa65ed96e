import t from 'tap'
import type { MeshConfig } from '../../src/mesh/config.ts'
import type { MeshStatus } from '../../src/mesh/status.ts'
import { eventually, meshTopology } from '../fixtures/mesh.ts'
import { startServingMeshNode } from '../fixtures/mesh-serving-node.ts'

const fast = (c: MeshConfig): MeshConfig => ({ ...c, presenceIntervalMs: 200 })

// The whole start path: `startNode` with a mesh runs the name check of its presence before any
// pipeline starts, and a refused start releases what it had started (its own nats-server too).
t.test('a second node started under a name already on the mesh is refused; the first keeps running', async (t) => {
  const topo = await meshTopology()
  await startServingMeshNode(t, fast(topo['hub-a']))
  const first = await startServingMeshNode(t, fast(topo.a1))
  const started = Date.now()
  await t.rejects(startServingMeshNode(t, fast(topo.a1)), { code: 'OMNI_ERR_MESH_NAME_TAKEN', message: /mesh node "a1" of cluster "a"/ })
  t.ok(Date.now() - started < 20_000, `refused in ${Date.now() - started} ms`)
  t.equal(first.node.state, 'running')
  await eventually('the first node to be linked to its hub again', async () => ((await first.node.mesh.status()) as MeshStatus).link.state === 'up')
  t.equal(first.node.mesh.enabled, true)
})
