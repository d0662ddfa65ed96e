import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { resolveNatsBinary } from '../../src/server/binary.ts'
import { renderConfig, resolveServerOptions } from '../../src/server/options.ts'

const cluster = { name: 'omni', host: '127.0.0.1', port: 6222, routes: ['nats-route://127.0.0.1:6223', 'nats-route://127.0.0.1:6224'] }

t.test('a cluster member renders a cluster block that nats-server itself accepts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'omni-cluster-conf-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const o = resolveServerOptions({ storeDir: dir, serverName: 'n1', port: 4222, topology: { cluster } })
  const text = renderConfig(o, 4222)
  t.match(text, 'cluster {\n  name: "omni"\n  host: "127.0.0.1"\n  port: 6222\n  routes: ["nats-route://127.0.0.1:6223", "nats-route://127.0.0.1:6224"]\n}')
  t.match(text, 'server_name: "n1"')
  const conf = join(dir, 'n1.conf')
  await writeFile(conf, text)
  const binary = await resolveNatsBinary(undefined)
  // -t: parse and check the config, then exit
  const { stdout, stderr } = await promisify(execFile)(binary.path, ['-t', '-c', conf])
  t.match(`${stdout}${stderr}`, /configuration file .* (is valid|test is successful)/)
})

t.test('a cluster member without a name, or with a route that is not one, is refused naming the option', async (t) => {
  t.throws(() => resolveServerOptions({ storeDir: '/tmp/x', topology: { cluster } }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'serverName', message: 'is required for a server in a cluster (JetStream names its peers by it)' }] })
  t.throws(() => resolveServerOptions({ storeDir: '/tmp/x', serverName: 'n1', topology: { cluster: { ...cluster, port: 0, routes: ['127.0.0.1:6223'] } } }), {
    code: 'OMNI_ERR_CONFIG',
    problems: [
      { where: 'topology.cluster.port', message: 'must be an integer from 1 to 65535 (the other servers must know it)' },
      { where: 'topology.cluster.routes[0]', message: '"127.0.0.1:6223" is not a route URL (nats-route://host:port)' },
    ],
  })
})
