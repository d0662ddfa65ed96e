import t from 'tap'
import { compileNodeConfig } from '../../src/node/mod.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { testLookup } from '../fixtures/manifests.ts'

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (err) {
    return err
  }
  return undefined
}

// `--nats "$A,$B,$C"` with the variables unset gives ",,": no URL at all. The client, given an
// empty server list, would connect to its default (127.0.0.1:4222), whatever server that is.
t.test('a NATS URL list with no URL in it is refused, not read as the client default localhost', async (t) => {
  const base = { manifests: 'm', logger: silentLogger(), lookup: testLookup }
  for (const url of [',', ',,', ' , ', ' ']) {
    t.match(thrown(() => compileNodeConfig({ ...base, nats: { url } })), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'nats.url', message: /no NATS URL/ }] }, JSON.stringify(url))
  }
  t.ok(compileNodeConfig({ ...base, nats: { url: 'nats://127.0.0.1:1, nats://127.0.0.1:2,' } }), 'a stray comma or space around real URLs is fine')
})

t.test('connectNats refuses an empty URL list the same way (the CLI commands connect without a node config)', async (t) => {
  const { connectNats } = await import('../../src/jetstream/connect.ts')
  await t.rejects(connectNats(' , '), { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /has no NATS URL in it/ })
})
