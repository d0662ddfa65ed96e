import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { connect } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { loadOrCreateNatsCredentials, readNatsCredentials } from '../../src/server/mod.ts'
import { startTestNats } from '../fixtures/nats.ts'

t.test('credentials are made once, kept for the owner only, and read back', async (t) => {
  const file = join(t.testdir(), 'data', 'nats-credentials')
  const made = await loadOrCreateNatsCredentials(file)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.equal(made.user, 'omni')
  t.ok(made.password.length >= 40, 'a long random password')
  t.same(await loadOrCreateNatsCredentials(file), made, 'the next start keeps them')
  t.same(await readNatsCredentials(file), made)
  await writeFile(file, '{"user":"omni","password":"short"}')
  await t.rejects(readNatsCredentials(file), { code: 'OMNI_ERR_CONFIG', message: new RegExp(`${file} must hold`) })
  await t.rejects(readNatsCredentials(join(t.testdir(), 'none')), { code: 'OMNI_ERR_CONFIG', message: /cannot read the NATS credentials file/ })
})

t.test('a server started with credentials refuses anonymous clients and admits the platform', async (t) => {
  const auth = await loadOrCreateNatsCredentials(join(t.testdir(), 'nats-credentials'))
  const server = await startTestNats(t, { auth })
  await t.rejects(connect({ servers: server.url, reconnect: false, timeout: 2000 }), /Authorization Violation/i, 'no anonymous connection')
  await t.rejects(connectNats(server.url), { code: 'OMNI_ERR_NATS_UNAVAILABLE', message: /the server requires credentials: pass --nats-credentials/ })
  await t.rejects(connectNats(server.url, { credentials: { user: 'omni', password: 'x'.repeat(20) } }), { message: /refused these credentials/ })
  const nc = await connectNats(server.url, { credentials: auth })
  t.ok(nc.info?.version, 'the platform connects')
  await nc.close()
})
