// `--mesh-peer NODE@CLUSTER[:TENANT,…]`: the tenants of this node a peer's events may land in,
// through the same checks as a manifest's `peers[].tenants`, problems naming the flag.
import { join } from 'node:path'
import t from 'tap'
import { meshConfigFrom } from '../../../cmd/lib/mesh-options.ts'
import { createNatsCredentialsFile } from '../../../src/server/mod.ts'

t.test('--mesh-peer takes the tenants after a colon; default only default, * any', async (t) => {
  const dir = t.testdir()
  await createNatsCredentialsFile(join(dir, 'a1.json'), 'a1')
  const base = { meshNode: 'a1', meshCluster: 'a', meshRole: 'leaf', meshHub: ['nats-leaf://127.0.0.1:7422'], meshCredentials: join(dir, 'a1.json') }
  const config = await meshConfigFrom({ ...base, meshPeer: ['a2@a', 'a3@a:default,acme', 'b1@b:*'] })
  t.same(config?.peers, [
    { node: 'a2', cluster: 'a', tenants: ['default'] },
    { node: 'a3', cluster: 'a', tenants: ['default', 'acme'] },
    { node: 'b1', cluster: 'b', tenants: ['*'] },
  ])
  await t.rejects(meshConfigFrom({ ...base, meshPeer: ['a2@a:'] }), { code: 'OMNI_ERR_CONFIG', message: '--mesh-peer "a2@a:" must be NODE@CLUSTER or NODE@CLUSTER:TENANT[,TENANT…], e.g. a2@a:default,acme' })
  await t.rejects(meshConfigFrom({ ...base, meshPeer: ['a2@a:acme,acme'] }), { code: 'OMNI_ERR_MANIFEST', problems: [{ where: '--mesh-peer a2@a:acme,acme', message: 'peers[0].tenants[1]: "acme" is listed twice' }] })
  await t.rejects(meshConfigFrom({ ...base, meshPeer: ['b1@b:*,acme'] }), { code: 'OMNI_ERR_MANIFEST', problems: [{ where: '--mesh-peer b1@b:*,acme', message: /^peers\[0\]\.tenants: "\*" already lets b1's events land in any tenant/ }] })
})
