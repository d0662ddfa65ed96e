import { spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { omni } from '../fixtures/cli.ts'
import { freePort } from '../fixtures/mesh.ts'

const OMNI = fileURLToPath(new URL('../../cmd/omni.ts', import.meta.url))

/** Starts `omni up` with `args`; resolves once it runs or has exited (bounded); killed by PID when `t` ends. */
async function startUp(t: Test, args: string[]): Promise<{ out: () => string; code: () => number | null }> {
  const child = spawn(process.execPath, ['--no-warnings', OMNI, 'up', '--no-clickhouse', '--no-api', '--no-watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await gone
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const deadline = Date.now() + 30_000
  while (!out.includes('Omni Fabric is running') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (child.exitCode === null && !out.includes('Omni Fabric is running')) throw new Error(`omni up did not start in 30 s:\n${out}`)
  await new Promise((r) => setTimeout(r, child.exitCode === null ? 0 : 50))
  return { out: () => out, code: () => child.exitCode }
}

t.test('omni mesh credentials writes a new login for a node, mode 0600, and never overwrites one', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'a1.json')
  const r = await omni(['mesh', 'credentials', 'a1', '--out', file])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, `credentials for a1 in ${file} (mode 0600)`)
  const made = JSON.parse(await readFile(file, 'utf8')) as { user: string; password: string }
  t.equal(made.user, 'a1')
  t.match(made.password, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url')
  t.equal((await stat(file)).mode & 0o777, 0o600)
  const again = await omni(['mesh', 'credentials', 'a1', '--out', file])
  t.equal(again.code, 1)
  t.match(again.stderr, `OMNI_ERR_CONFIG: ${file} already exists; a login in use is never replaced`)
  t.equal(JSON.parse(await readFile(file, 'utf8')).password, made.password, 'the file is unchanged')
  const bad = await omni(['mesh', 'credentials', 'A_1', '--out', join(dir, 'x.json')])
  t.match(bad.stderr, /"A_1" is not a mesh node name/)
})

t.test('omni up refuses a bad mesh configuration before anything starts, naming the flag or file:line:col', async (t) => {
  const dir = t.testdir()
  const data = join(dir, 'data')
  const run = (args: string[]) => omni(['up', '--data', data, '--no-clickhouse', '--no-api', '--no-watch', ...args], { timeoutMs: 20_000 })
  await writeFile(join(dir, 'mesh.yaml'), 'kind: Mesh\nnode: a1\ncluster: a\nrole: leaf\nhubs: [nats://127.0.0.1:7422]\ncredentials: a1.json\n')
  const both = await run(['--mesh', join(dir, 'mesh.yaml'), '--mesh-node', 'a1'])
  t.match(both.stderr, /OMNI_ERR_CONFIG: --mesh .*mesh\.yaml and --mesh-node exclude each other/)
  const file = await run(['--mesh', join(dir, 'mesh.yaml')])
  t.equal(file.code, 1)
  t.match(file.stderr, /mesh\.yaml:5:8: hubs\[0\]: "nats:\/\/127\.0\.0\.1:7422" must start with nats-leaf:\/\//)
  t.match(file.stderr, /mesh\.yaml:6:14: credentials: cannot read the NATS credentials file .*a1\.json/)
  const flags = await run(['--mesh-node', 'a1', '--mesh-cluster', 'a', '--mesh-role', 'leaf', '--mesh-hub', 'nats-leaf://127.0.0.1:7422', '--mesh-credentials', join(dir, 'none.json'), '--mesh-peer', 'a1@a', '--mesh-member', 'a2@a=x.json'])
  t.match(flags.stderr, /OMNI_ERR_MANIFEST: \d+ problem\(s\) in the mesh configuration \(the --mesh-\* flags\)/)
  t.match(flags.stderr, /--mesh-credentials: credentials: cannot read the NATS credentials file .*none\.json/)
  t.match(flags.stderr, /--mesh-peer a1@a: peers\[0\]\.node: domain clash/)
  t.match(flags.stderr, /--mesh-member: members: only a hub admits members/)
  t.match((await run(['--mesh-role', 'hub', '--mesh-member', 'a2'])).stderr, /--mesh-member "a2" must be NODE@CLUSTER=FILE/)
  t.match((await run(['--mesh-role', 'lead'])).stderr, /--mesh-role: role: must be one of "hub", "leaf"/)
})

t.test('omni validate checks a Mesh manifest', async (t) => {
  const dir = t.testdir()
  await omni(['mesh', 'credentials', 'a1', '--out', join(dir, 'a1.json')])
  await writeFile(join(dir, 'good.yaml'), 'kind: Mesh\nnode: a1\ncluster: a\nrole: leaf\nhubs: [nats-leaf://127.0.0.1:7422]\ncredentials: a1.json\n')
  t.equal((await omni(['validate', join(dir, 'good.yaml')])).code, 0)
  await writeFile(join(dir, 'bad.yaml'), 'kind: Mesh\nnode: a1\ncluster: a\nrole: leaf\nhubs: [nats-leaf://127.0.0.1:7422]\ncredentials: a1.json\npeers: [{ node: a1, cluster: a }]\n')
  const bad = await omni(['validate', join(dir, 'bad.yaml')])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /bad\.yaml:7:17: peers\[0\]\.node: domain clash/)
})

t.test('a hub started with flags admits a leaf started with a manifest, and refuses one whose hub is down', async (t) => {
  const dir = t.testdir()
  for (const node of ['a1', 'a2']) t.equal((await omni(['mesh', 'credentials', node, '--out', join(dir, `${node}.json`)])).code, 0)
  const leafPort = await freePort()
  const leafYaml = (port: number) => `kind: Mesh\nnode: a1\ncluster: a\nrole: leaf\nhubs: [nats-leaf://127.0.0.1:${port}]\ncredentials: a1.json\npeers: [{ node: a2, cluster: a }]\n`
  await writeFile(join(dir, 'a1.yaml'), leafYaml(leafPort))
  const early = await omni(['up', '--mesh', join(dir, 'a1.yaml'), '--data', join(dir, 'early'), '--port', String(await freePort()), '--no-clickhouse', '--no-api', '--no-watch'], { timeoutMs: 20_000 })
  t.equal(early.code, 1)
  t.match(early.stderr, `OMNI_ERR_MESH_HUB_UNREACHABLE: no hub of mesh node a1 answers: nats-leaf://127.0.0.1:${leafPort}: ECONNREFUSED`)

  const hub = await startUp(t, ['--data', join(dir, 'hub'), '--port', String(await freePort()), '--mesh-node', 'hub-a', '--mesh-cluster', 'a', '--mesh-role', 'hub', '--mesh-listen', `127.0.0.1:${leafPort}`, '--mesh-member', `a1@a=${join(dir, 'a1.json')}`, '--mesh-member', `a2@a=${join(dir, 'a2.json')}`])
  t.match(hub.out(), 'Omni Fabric is running', hub.out())
  const leaf = await startUp(t, ['--data', join(dir, 'leaf'), '--port', String(await freePort()), '--mesh', join(dir, 'a1.yaml')])
  t.match(leaf.out(), 'Omni Fabric is running', 'the leaf joined: its link to the hub came up with its credentials')
  t.match(hub.out(), /\n {2}mesh {8}hub-a \(hub of cluster a, JetStream domain hub-a\); leaf nodes connect to 127\.0\.0\.1:\d+; members a1, a2; peers none\n/, 'the banner says who the node is on the mesh')
  t.match(leaf.out(), `  mesh        a1 (leaf of cluster a, JetStream domain a1); hub nats-leaf://127.0.0.1:${leafPort} (login in ${join(dir, 'a1.json')}); peers a2\n`)
  // a node that calls itself a1 with a2's login is refused by the hub
  await writeFile(join(dir, 'rogue.yaml'), leafYaml(leafPort).replace('credentials: a1.json', 'credentials: a2.json').replace('node: a1', 'node: a3'))
  const rogue = await omni(['up', '--data', join(dir, 'rogue'), '--port', String(await freePort()), '--no-clickhouse', '--no-api', '--no-watch', '--mesh', join(dir, 'rogue.yaml')], { timeoutMs: 20_000 })
  t.match(rogue.stderr, /credentials: the credentials file .*a2\.json is for user "a2", not "a3"/, 'a file for another node is refused before it is tried')
  // a1 with a login the hub does not list: the hub refuses it, and the start says so
  const other = join(dir, 'other')
  t.equal((await omni(['mesh', 'credentials', 'a1', '--out', join(other, 'a1.json')])).code, 0)
  await writeFile(join(other, 'a1.yaml'), leafYaml(leafPort))
  const refused = await omni(['up', '--data', join(dir, 'refused'), '--port', String(await freePort()), '--no-clickhouse', '--no-api', '--no-watch', '--mesh', join(other, 'a1.yaml')], { timeoutMs: 30_000 })
  t.equal(refused.code, 1)
  t.match(refused.stderr, `OMNI_ERR_MESH_CREDENTIALS_REFUSED: the hub at nats-leaf://127.0.0.1:${leafPort} refused mesh node a1's login (user "a1" from ${join(other, 'a1.json')})`)
})
