import { copyFile, cp, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { jetstream } from '@nats-io/jetstream'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { localPlugins, openNodeClient, openQueryClient, type LiveEvents } from '../../src/node/mod.ts'
import { writeSigningKey } from '../../src/plugins/mod.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { createSignedPlugin, createTestTrust, NOW, tempDir } from '../fixtures/plugins.ts'

// The clients a process beside a node opens (the CLI's), in this process.

t.test('localPlugins lists and re-signs the revocation list on this host alone; what needs the cluster answers 503', async (t) => {
  const trust = await createTestTrust(t)
  const publisher = await trust.publisher('verified')
  const plugins = await tempDir(t, 'plugins')
  await cp(await createSignedPlugin(t, publisher, { id: 'acme.shout', tier: 'verified' }), join(plugins, 'acme.shout'), { recursive: true })
  const keys = await tempDir(t, 'keys')
  const rootFile = (await writeSigningKey(keys, 'root', trust.root)).privateKeyFile
  const service = localPlugins({ dir: plugins, trust: trust.dir, cluster: 'local', dockerSocket: join(keys, 'no.sock'), workDir: keys, now: () => NOW })

  t.match(await service.installed({ approvals: false }), [{ id: 'acme.shout', verified: true, approval: undefined }])
  await t.rejects(service.installed(), { code: 'OMNI_ERR_UNAVAILABLE' }, 'approvals live in the cluster')
  await t.rejects(service.install({ id: 'acme.shout', version: '1.0.0' }), { code: 'OMNI_ERR_UNAVAILABLE' })

  const other = (await writeSigningKey(keys, 'other', await trust.publisher('alpha'))).privateKeyFile
  await t.rejects(service.updateRevocations({ keys: [], rootKey: { file: other } }), { code: 'OMNI_ERR_PLUGIN_UNTRUSTED', message: new RegExp(`^${other} \\(key \\w+\\) is not a root key of .*; its roots are root \\(`) })

  const update = await service.updateRevocations({ yanks: [{ id: 'acme.shout', version: '1.0.0' }], rootKey: { file: rootFile } })
  t.match(update.entries, [{ type: 'yank', id: 'acme.shout', version: '1.0.0', reason: 'yanked by the operator', added: true }])
  t.equal(update.root, trust.root.keyid)
  t.equal(update.list.expiresAt, new Date(NOW.getTime() + 90 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'), 'valid for 90 days by default')
  t.equal(update.reload.type, 'rejected', 'a client does not reload the node')
  t.match(await service.installed({ approvals: false }), [{ id: 'acme.shout', verified: false, error: { code: 'OMNI_ERR_PLUGIN_REVOKED' } }])
})

t.test('openQueryClient loads the manifests leniently and answers 503 for queries without ClickHouse', async (t) => {
  const dir = await tempDir(t, 'manifests')
  await copyFile(join(import.meta.dirname, '../../manifests/catalog/messaging.yaml'), join(dir, 'messaging.yaml'))
  await writeFile(join(dir, 'broken.yaml'), 'kind: Pipeline\nname: [not, a, name]\n')
  const client = await openQueryClient({ manifests: dir, lookup: getCartridge })
  t.teardown(() => client.close())
  t.ok(client.manifests && client.manifests.problems.length > 0, 'the broken file is a problem, not an error')
  t.equal(client.manifests?.pipelines, 0)
  t.ok(client.catalog.declared().some((e) => e.type === 'message.received'), 'the good file still counts')
  await t.rejects(client.events.query({ limit: 10 }), { code: 'OMNI_ERR_UNAVAILABLE' })
  await t.rejects(client.catalog.observed({}), { code: 'OMNI_ERR_UNAVAILABLE' })
  await t.rejects(openQueryClient({ manifests: join(dir, 'missing'), lookup: getCartridge }), 'a folder that is not there fails the open')
  const bare = await openQueryClient({ lookup: getCartridge })
  t.same(bare.catalog.declared(), [])
  await bare[Symbol.asyncDispose]()
})

t.test('the node client follows the stream from new, all, the last per subject or a sequence', async (t) => {
  const server = await startTestNats(t)
  await using client = await openNodeClient({ natsUrl: server.url, lookup: getCartridge })
  const js = jetstream(await connectTest(t, server))
  for (const [subject, n] of [['omni.evt.a.one.v1', 1], ['omni.evt.a.two.v1', 2], ['omni.evt.a.one.v1', 3]] as const) await js.publish(subject, JSON.stringify({ n }))
  const take = async (live: LiveEvents, count: number) => {
    const seen: [number, string, unknown][] = []
    for await (const e of live) {
      seen.push([e.seq, e.subject, (e.parsed?.value as { n: number }).n])
      if (seen.length === count) break
    }
    await live.close()
    return seen
  }
  const subjects = ['omni.evt.>']
  t.same(await take(await client.events.follow({ subjects, from: 'all' }), 3), [[1, 'omni.evt.a.one.v1', 1], [2, 'omni.evt.a.two.v1', 2], [3, 'omni.evt.a.one.v1', 3]])
  t.same(await take(await client.events.follow({ subjects, from: 'last-per-subject' }), 2), [[2, 'omni.evt.a.two.v1', 2], [3, 'omni.evt.a.one.v1', 3]])
  t.same(await take(await client.events.follow({ subjects, from: { after: 2 } }), 1), [[3, 'omni.evt.a.one.v1', 3]])
  const fresh = await client.events.follow({ subjects })
  await js.publish('omni.evt.a.two.v1', JSON.stringify({ n: 4 }))
  t.same(await take(fresh, 1), [[4, 'omni.evt.a.two.v1', 4]], 'by default only what is stored from now on')
})
