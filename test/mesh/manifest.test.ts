import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadMeshManifest } from '../../src/mesh/manifest.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { createNatsCredentialsFile } from '../../src/server/mod.ts'

/** A folder with credential files for a1, a2 and hub-b, and a manifest written into it. */
async function fixture(t: Test, yaml: string, name = 'mesh.yaml'): Promise<string> {
  const dir = t.testdir()
  for (const node of ['a1', 'a2', 'hub-b', 'hub-a']) await createNatsCredentialsFile(join(dir, `${node}.json`), node)
  const file = join(dir, name)
  await writeFile(file, yaml)
  return file
}

/** The problems `loadMeshManifest` reports, as `line:col message` (the folder left out). */
async function problems(t: Test, yaml: string): Promise<string[]> {
  const file = await fixture(t, yaml)
  try {
    await loadMeshManifest(file)
  } catch (err) {
    const e = err as { code: string; problems: { where: string; message: string }[] }
    t.equal(e.code, 'OMNI_ERR_MANIFEST')
    return e.problems.map((p) => `${p.where.slice(file.length + 1)} ${p.message}`)
  }
  return []
}

const LEAF = `kind: Mesh
node: a1
cluster: a
role: leaf
hubs: [nats-leaf://127.0.0.1:7422]
credentials: a1.json
peers:
  - { node: a2, cluster: a }
  - { node: b1, cluster: b }
`

const HUB = `kind: Mesh
node: hub-a
cluster: a
role: hub
listen: 127.0.0.1:7422
members:
  - { node: a1, cluster: a, credentials: a1.json }
  - { node: hub-b, cluster: b, credentials: hub-b.json }
`

t.test('a leaf manifest compiles, with its credentials read relative to the manifest', async (t) => {
  const file = await fixture(t, `${LEAF}trust:\n  rules: [{ when: "event.type == 'x'", outcome: quarantine, reason: odd }]\nsovereignty: { default: L2, keys: { k1: L3 }, tiers: { core: L3 } }\n`)
  const mesh = await loadMeshManifest(file)
  t.match(mesh, { node: 'a1', cluster: 'a', role: 'leaf', hubs: ['nats-leaf://127.0.0.1:7422'], credentials: { user: 'a1' }, credentialsFile: join(file, '..', 'a1.json'), members: [], startOffline: false })
  // no tenants listed: a peer's events land in this node's tenant default only
  t.same(mesh.peers, [{ node: 'a2', cluster: 'a', tenants: ['default'] }, { node: 'b1', cluster: 'b', tenants: ['default'] }])
  t.same(mesh.sovereignty, { default: 'L2', keys: { k1: 'L3' }, tiers: { core: 'L3' } })
  t.equal(mesh.trust.rules[0]?.outcome, 'quarantine')
  t.ok(Object.isFrozen(mesh) && Object.isFrozen(mesh.peers), 'frozen')
})

t.test('a hub manifest compiles with its members and defaults', async (t) => {
  const mesh = await loadMeshManifest(await fixture(t, HUB))
  t.same(mesh.listen, { host: '127.0.0.1', port: 7422 })
  t.same(mesh.members.map((m) => [m.node, m.cluster, m.credentials.user]), [['a1', 'a', 'a1'], ['hub-b', 'b', 'hub-b']])
  t.same(mesh.sovereignty, { default: 'L1', keys: {}, tiers: {} })
  t.same(mesh.trust, { rules: [] })
  t.same(mesh.hubs, [])
})

t.test('names must be mesh names, and unknown keys are refused where they stand', async (t) => {
  t.match(await problems(t, LEAF.replace('node: a1', 'node: A_1').replace('peers:', 'colour: blue\npeers:')), [/^7:9 colour: unknown field/, /^2:7 node: must match pattern/])
  t.match(await problems(t, LEAF.replace('{ node: b1, cluster: b }', '{ node: b1, cluster: b, role: hub }')), [/^9:\d+ peers\[1\]\.role: unknown field/])
})

t.test('a leaf needs hubs and credentials, and neither listens nor admits members', async (t) => {
  t.match(await problems(t, 'kind: Mesh\nnode: a1\ncluster: a\nrole: leaf\n'), [/^1:1 a leaf needs `hubs`/, /^1:1 a leaf needs `credentials`/])
  t.match(await problems(t, `${LEAF}listen: 127.0.0.1:7000\nmembers: [{ node: a2, cluster: a, credentials: a2.json }]\n`), [/^10:9 listen: only a hub listens/, /^11:10 members: only a hub admits members/])
})

t.test('a hub needs listen; a federating hub needs credentials; credentials without hubs are a mistake', async (t) => {
  t.match(await problems(t, HUB.replace('listen: 127.0.0.1:7422\n', '')), [/^1:1 a hub needs `listen`/])
  t.match(await problems(t, `${HUB}hubs: [nats-leaf://127.0.0.1:7500]\n`), [/^9:7 hubs: a hub that federates .* needs `credentials`/])
  t.match(await problems(t, `${HUB}credentials: hub-a.json\n`), [/^9:14 credentials: is used only to log in at `hubs`/])
  t.match(await problems(t, HUB.replace('127.0.0.1:7422', '127.0.0.1:0')), [/^5:9 listen: "127.0.0.1:0" is not HOST:PORT/])
  t.same(await problems(t, HUB.replace('127.0.0.1:7422', '"[::1]:7422"')), [], 'an IPv6 listen address')
})

t.test('hub URLs are nats-leaf:// or tls:// with a host and a port, and no login', async (t) => {
  const hubs = (list: string) => problems(t, LEAF.replace('[nats-leaf://127.0.0.1:7422]', list))
  t.match(await hubs('[nats://127.0.0.1:4222]'), [/^5:8 hubs\[0\]: "nats:\/\/127\.0\.0\.1:4222" must start with nats-leaf:\/\//])
  t.match(await hubs('[nats-leaf://127.0.0.1]'), [/hubs\[0\]: .* needs a host and a port/])
  t.match(await hubs('["nats-leaf://u:p@127.0.0.1:7422"]'), [/hubs\[0\]: .* holds a login; put it in the `credentials` file/])
  t.match(await hubs('[not a url]'), [/hubs\[0\]: "not a url" is not a URL/])
  t.same(await hubs('[tls://hub.example:7422, nats-leaf://10.0.0.1:7422]'), [])
})

t.test('two nodes with the same name, a domain clash, and one node in two clusters are refused', async (t) => {
  t.match(await problems(t, `${HUB}  - { node: a1, cluster: a, credentials: a1.json }\n`), [/^9:13 members\[2\]\.node: two nodes with the same name: "a1" is listed twice in members/])
  t.match(await problems(t, `${HUB}  - { node: hub-a, cluster: a, credentials: hub-a.json }\n`), [/^9:13 members\[2\]\.node: domain clash: "hub-a" is this node's own name; each node's name is its JetStream domain/])
  t.match(await problems(t, LEAF.replace('{ node: a2, cluster: a }', '{ node: a1, cluster: a }')), [/^8:13 peers\[0\]\.node: domain clash/])
  t.match(await problems(t, LEAF.replace('{ node: b1, cluster: b }', '{ node: a2, cluster: b }')), [/^9:13 peers\[1\]\.node: two nodes with the same name/, /^9:26 peers\[1\]\.cluster: "a2" is of cluster "a" in peers\[0\] and of cluster "b" here/])
  t.match(await problems(t, `${HUB}peers: [{ node: hub-b, cluster: c }]\n`), [/^9:\d+ peers\[0\]\.cluster: "hub-b" is of cluster "b" in members\[1\] and of cluster "c" here/])
})

t.test('a missing, malformed or foreign credentials file is an error at its field, naming the file', async (t) => {
  const file = await fixture(t, `${HUB}  - { node: a2, cluster: a, credentials: nowhere.json }\n`)
  await t.rejects(loadMeshManifest(file), { code: 'OMNI_ERR_MANIFEST', problems: [{ where: `${file}:9:42`, message: new RegExp(`members\\[2\\]\\.credentials: cannot read the NATS credentials file ${join(file, '..', 'nowhere.json')}`) }] })
  const leaf = await fixture(t, LEAF.replace('credentials: a1.json', 'credentials: sub/bad.json'))
  await mkdir(join(leaf, '..', 'sub'))
  await writeFile(join(leaf, '..', 'sub', 'bad.json'), 'user=a1')
  await t.rejects(loadMeshManifest(leaf), { code: 'OMNI_ERR_MANIFEST', problems: [{ where: `${leaf}:6:14`, message: /credentials: the NATS credentials file .*sub\/bad\.json is not JSON/ }] })
  t.match(await problems(t, LEAF.replace('a1.json', 'a2.json')), [/^6:14 credentials: the credentials file .*a2\.json is for user "a2", not "a1" \(make one with `omni mesh credentials a1 --out FILE`\)/])
})

t.test('trust is checked with guard.trust\'s own schema and CEL compiler; sovereignty levels are L1-L3', async (t) => {
  t.match(await problems(t, `${LEAF}trust:\n  rules: [{ when: "event.type ==", outcome: quarantine }]\n`), [/^11:19 trust\.rules\[0\]\.when: invalid CEL expression/])
  t.match(await problems(t, `${LEAF}trust:\n  rules: [{ when: "true", outcome: drop }]\n`), [/trust\.rules\[0\]\.outcome: must be one of/])
  t.match(await problems(t, `${LEAF}sovereignty: { default: L4, tiers: { gold: L1 } }\n`), ['10:25 sovereignty.default: must be one of "L1", "L2", "L3"', /^10:44 sovereignty\.tiers\.gold: unknown field/])
})

t.test('omni validate checks a Mesh manifest; a manifest of another kind is refused by loadMeshManifest', async (t) => {
  const file = await fixture(t, LEAF.replace('a1.json', 'missing.json'))
  const loaded = await loadManifests(file, getCartridge)
  t.match(loaded.problems, [{ where: /mesh\.yaml:6:14$/, message: /credentials: cannot read the NATS credentials file/ }])
  t.same((await loadManifests(await fixture(t, LEAF), getCartridge)).problems, [], 'a good one passes')
  await t.rejects(loadMeshManifest(await fixture(t, 'kind: Pipeline\nname: x\n')), { code: 'OMNI_ERR_MANIFEST', problems: [{ message: /expected kind: Mesh, found "Pipeline"/ }] })
})

t.test("a peer's tenants: listed, any with '*' alone, no repeats", async (t) => {
  const mesh = await loadMeshManifest(await fixture(t, LEAF.replace('{ node: a2, cluster: a }', '{ node: a2, cluster: a, tenants: [default, acme] }').replace('{ node: b1, cluster: b }', "{ node: b1, cluster: b, tenants: ['*'] }")))
  t.same(mesh.peers, [{ node: 'a2', cluster: 'a', tenants: ['default', 'acme'] }, { node: 'b1', cluster: 'b', tenants: ['*'] }])
  t.match(await problems(t, LEAF.replace('{ node: a2, cluster: a }', '{ node: a2, cluster: a, tenants: [acme, acme] }')), [/^8:\d+ peers\[0\]\.tenants\[1\]: "acme" is listed twice/])
  t.match(await problems(t, LEAF.replace('{ node: b1, cluster: b }', "{ node: b1, cluster: b, tenants: ['*', acme] }")), [/^9:\d+ peers\[1\]\.tenants: "\*" already lets b1's events land in any tenant of this node/])
  t.match(await problems(t, LEAF.replace('{ node: b1, cluster: b }', '{ node: b1, cluster: b, tenants: [] }')), [/^9:\d+ peers\[1\]\.tenants: must/])
})

t.test('a credentials file the group or others can read is a warning at its field, naming the file and its mode', async (t) => {
  const file = await fixture(t, HUB.replace('role: hub', 'role: hub\nhubs: [nats-leaf://127.0.0.1:7433]\ncredentials: hub-a.json'))
  const warnings: string[] = []
  await loadMeshManifest(file, (m) => warnings.push(m))
  t.same(warnings, [], 'files made by omni mesh credentials are 0600: nothing to say')
  const own = join(file, '..', 'hub-a.json')
  const member = join(file, '..', 'hub-b.json')
  await chmod(own, 0o644)
  await chmod(member, 0o640)
  const mesh = await loadMeshManifest(file, (m) => warnings.push(m))
  t.equal(mesh.credentials?.user, 'hub-a', 'still loaded: a warning, not a refusal')
  t.same(warnings, [
    `${file}:6:14: credentials: the credentials file ${own} has mode 0644: the group or others can read it, and whoever reads it joins the mesh as "hub-a" (chmod 600 ${own})`,
    `${file}:10:45: members[1].credentials: the credentials file ${member} has mode 0640: the group or others can read it, and whoever reads it joins the mesh as "hub-b" (chmod 600 ${member})`,
  ])
})
