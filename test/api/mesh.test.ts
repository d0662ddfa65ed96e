import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { buildApi } from '../../src/api/server.ts'
import { resolveApiConfig } from '../../src/api/options.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import type { MeshStatus } from '../../src/mesh/status.ts'
import { readInboxes } from '../../src/mesh/sources.ts'
import { nodeInternals } from '../../src/node/internals.ts'
import { meshMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { meshApiPrefix, meshDeliverSubject, meshInboxStream, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects } from '../../src/wire/mod.ts'
import { bearer, startTestApi, TEST_TOKENS } from '../fixtures/api.ts'
import { eventually, meshTopology } from '../fixtures/mesh.ts'
import { startServingMeshNode } from '../fixtures/mesh-serving-node.ts'

const fast = (c: MeshConfig): MeshConfig => ({ ...c, presenceIntervalMs: 200 })

t.test('GET /v1/mesh and the mesh gauges on a leaf of a hub with two leaves', async (t) => {
  const topo = await meshTopology()
  await startServingMeshNode(t, fast(topo['hub-a']))
  const a1 = await startServingMeshNode(t, fast(topo.a1))
  // the newest node of a process owns the gauges of /metrics: a2, whose API this is
  const a2 = await startServingMeshNode(t, fast(topo.a2))
  const config = resolveApiConfig({ port: 0, tokens: Object.entries(TEST_TOKENS).map(([scope, token]) => ({ name: `test-${scope}`, token, scopes: [scope], tenants: ['default'] })) })
  const app = await buildApi(a2.node, config, silentLogger())
  t.teardown(() => app.close())
  const get = async (url = '/v1/mesh') => app.inject({ method: 'GET', url, headers: bearer('read') })

  // what part B does: a2's inbox from a1 sources a1's cluster outbox (made here when absent)
  const { jsm: jsmA1, nc: ncA1 } = nodeInternals(a1.node)
  const { jsm: jsmA2 } = nodeInternals(a2.node)
  if (!(await jsmA1.streams.info(meshOutboxStream('cluster')).catch(() => undefined))) await jsmA1.streams.add({ name: meshOutboxStream('cluster'), subjects: [meshOutboxSubjects('cluster', 'a', 'a1')] })
  if (!(await jsmA2.streams.info(meshInboxStream('a1')).catch(() => undefined))) {
    await jsmA2.streams.add({ name: meshInboxStream('a1'), subjects: [], sources: [{ name: meshOutboxStream('cluster'), external: { api: meshApiPrefix('a1'), deliver: meshDeliverSubject('a', 'a1', 'cluster', 'a2') } }] })
  }
  const js = jetstream(ncA1)
  for (let i = 0; i < 5; i++) await js.publish(meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.note-created.v1'), `n${i}`)
  // what parts B and C count
  meshMetrics.events.inc({ direction: 'in', visibility: 'cluster' }, 5)
  meshMetrics.bytes.inc({ direction: 'in', visibility: 'cluster' }, 321)
  meshMetrics.refused.inc({ peer: 'a1', reason: 'forged-origin' })

  let status: MeshStatus | undefined
  await eventually('a2 to see both peers up and the inbox caught up', async () => {
    const res = await get()
    status = res.json<MeshStatus>()
    const inbox = status.inboxes.find((i) => i.peer === 'a1')
    const cluster = inbox?.sources.find((src) => src.visibility === 'cluster')
    return status.peers.filter((p) => p.state === 'up').length === 2 && inbox?.lastReceived !== undefined && cluster?.lag === 0 && status.link.state === 'up'
  })
  const s = status!
  t.equal(s.enabled, true)
  t.same(s.node, { name: 'a2', cluster: 'a', role: 'leaf', hubs: topo.a2.hubs, instance: s.node.instance })
  t.match(s.link, { state: 'up', remote: 'hub-a', hubs: topo.a2.hubs, leaves: [], flapping: false })
  t.same(
    s.peers.map((p) => [p.node, p.state, p.configured]),
    [
      ['a1', 'up', true],
      ['hub-a', 'up', true],
      ['b1', 'unknown', true],
    ],
    'configured peers by cluster then name; b1 was never started',
  )
  const a1Inbox = s.inboxes.find((i) => i.peer === 'a1')!
  t.match(a1Inbox, { stream: 'MESH_IN_a1', exists: true })
  t.ok(a1Inbox.sources.some((src) => src.visibility === 'cluster' && src.lag === 0 && src.error === undefined), 'the cluster source caught up')
  t.ok(Date.parse(a1Inbox.lastReceived!) <= Date.parse(s.checkedAt), 'the last event received has a time')
  // (the receiver makes every configured peer's inbox once merged: a name nobody uses shows a missing one)
  t.same(await readInboxes(jsmA2, [{ node: 'nobody', cluster: 'a' }]), [{ peer: 'nobody', cluster: 'a', stream: 'MESH_IN_nobody', exists: false, messages: 0, lastReceived: undefined, sources: [] }], 'an inbox not made yet is reported, not an error')
  t.ok((s.traffic.events.in?.cluster ?? 0) >= 5)
  t.ok((s.traffic.bytes.in?.cluster ?? 0) >= 321)
  t.ok((s.traffic.refused.a1?.['forged-origin'] ?? 0) >= 1)
  t.same(s.clashes, [])

  // the gauges read presence afresh: under a loaded machine (the whole suite on two cores) a peer
  // whose hellos came late may read down for a moment (CI once), so wait for a reading with both up
  const scrape = async () => (await app.inject({ method: 'GET', url: '/metrics', headers: bearer('read') })).body
  await eventually('the gauges to read both peers up', async () => {
    const m = await scrape()
    return /omni_mesh_peer_up\{peer="a1",cluster="a"\} 1/.test(m) && /omni_mesh_peer_up\{peer="hub-a",cluster="a"\} 1/.test(m)
  }, 10_000)
  const metrics = await scrape()
  t.match(metrics, /omni_mesh_peer_up\{peer="a1",cluster="a"\} 1/)
  t.match(metrics, /omni_mesh_peer_up\{peer="hub-a",cluster="a"\} 1/)
  t.notMatch(metrics, /omni_mesh_peer_up\{peer="b1"/, 'a peer never heard from has no value yet')
  t.match(metrics, /omni_mesh_link_up 1/)
  t.match(metrics, /omni_mesh_source_lag\{peer="a1",visibility="cluster"\} 0/)
  t.match(metrics, /omni_mesh_last_received_seconds\{peer="a1"\} \d/)
  t.match(metrics, /omni_mesh_refused_total\{peer="a1",reason="forged-origin"\} \d/)

  // scopes: read is enough, nothing is not
  t.equal((await app.inject({ method: 'GET', url: '/v1/mesh' })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/v1/mesh', headers: bearer('ingest') })).statusCode, 403)

  // a1 stops: a2 sees it down and says so in the status and the gauge
  await a1.node.close()
  await eventually('a2 to see a1 down', async () => (await get()).json<MeshStatus>().peers.find((p) => p.node === 'a1')?.state === 'down', 5000)
  t.match((await app.inject({ method: 'GET', url: '/metrics', headers: bearer('read') })).body, /omni_mesh_peer_up\{peer="a1",cluster="a"\} 0/)
})

t.test('a node on no mesh answers enabled: false', async (t) => {
  const { app } = await startTestApi(t)
  const res = await app.inject({ method: 'GET', url: '/v1/mesh', headers: bearer('read') })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { enabled: false })
  t.notMatch((await app.inject({ method: 'GET', url: '/metrics', headers: bearer('read') })).body, /omni_mesh_peer_up\{/)
})

t.test('GET /v1/mesh is in the OpenAPI document', async (t) => {
  const { app } = await startTestApi(t)
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, { get?: { responses?: Record<string, unknown> } }> }>()
  t.ok(doc.paths['/v1/mesh']?.get?.responses?.['200'], 'documented with its answer')
})
