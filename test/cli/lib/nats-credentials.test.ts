import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { cliNatsCredentials } from '../../../cmd/lib/nats-credentials.ts'

const CREDS = { user: 'omni', password: 'p'.repeat(43) }

t.test("the default credentials file goes only to a server on this machine; a named one goes where it is told", async (t) => {
  const dir = t.testdir()
  mkdirSync(join(dir, 'data'))
  writeFileSync(join(dir, 'data', 'nats-credentials'), JSON.stringify(CREDS))
  process.chdir(dir)
  const env = {}
  t.same(await cliNatsCredentials('nats://127.0.0.1:4222', undefined, env), CREDS, 'loopback: the local platform')
  t.same(await cliNatsCredentials('nats://localhost:4222', undefined, env), CREDS)
  t.same(await cliNatsCredentials('nats://[::1]:4222', undefined, env), CREDS)
  t.equal(await cliNatsCredentials('nats://nats.example.org:4222', undefined, env), undefined, 'another host never gets the local password by default')
  t.same(await cliNatsCredentials('nats://127.0.0.1:4222,nats://127.0.0.1:4223', undefined, env), CREDS, 'a cluster on this machine')
  t.equal(await cliNatsCredentials('nats://127.0.0.1:4222,nats://nats.example.org:4222', undefined, env), undefined, 'a cluster with one server elsewhere: not by default')
  t.same(await cliNatsCredentials('nats://nats.example.org:4222', join(dir, 'data', 'nats-credentials'), env), CREDS, 'a file named by the flag is used anywhere')
  t.same(await cliNatsCredentials('nats://nats.example.org:4222', undefined, { OMNI_NATS_CREDENTIALS: join(dir, 'data', 'nats-credentials') }), CREDS, 'and so is one named by the variable')
  mkdirSync(join(dir, 'elsewhere'))
  process.chdir(join(dir, 'elsewhere'))
  t.equal(await cliNatsCredentials('nats://127.0.0.1:4222', undefined, env), undefined, 'no default file: no credentials')
})
