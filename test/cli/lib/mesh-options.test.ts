// `--mesh-peer NODE@CLUSTER[:TENANT,…]`: the tenants of this node a peer's events may land in,
// through the same checks as a manifest's `peers[].tenants`, problems naming the flag.
import { chmod } from 'node:fs/promises'
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

t.test('a credentials file others can read is told to the warning callback, and the node still starts', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'a1.json')
  await createNatsCredentialsFile(file, 'a1')
  await chmod(file, 0o604)
  const warnings: string[] = []
  const config = await meshConfigFrom({ meshNode: 'a1', meshCluster: 'a', meshRole: 'leaf', meshHub: ['nats-leaf://127.0.0.1:7422'], meshCredentials: file }, (m) => warnings.push(m))
  t.equal(config?.credentials?.user, 'a1')
  t.same(warnings, [`--mesh-credentials: credentials: the credentials file ${file} has mode 0604: the group or others can read it, and whoever reads it joins the mesh as "a1" (chmod 600 ${file})`])
})
