import t from 'tap'
import { compileNodeConfig } from '../../src/node/mod.ts'
import { CONFIG_BASE, configRefusal } from '../fixtures/node-config.ts'

// `--nats "$A,$B,$C"` with the variables unset gives ",,": no URL at all. The client, given an
// empty server list, would connect to its default (127.0.0.1:4222), whatever server that is.
t.test('a NATS URL list with no URL in it is refused, not read as the client default localhost', async (t) => {
  for (const url of [',', ',,', ' , ', ' ']) {
    t.match(configRefusal({ nats: { url } }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'nats.url', message: /no NATS URL/ }] }, JSON.stringify(url))
  }
  t.ok(compileNodeConfig({ ...CONFIG_BASE, nats: { url: 'nats://127.0.0.1:1, nats://127.0.0.1:2,' } }), 'a stray comma or space around real URLs is fine')
})

t.test('connectNats refuses an empty URL list the same way (the CLI commands connect without a node config)', async (t) => {
  const { connectNats } = await import('../../src/jetstream/connect.ts')
  await t.rejects(connectNats(' , '), { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /has no NATS URL in it/ })
})
