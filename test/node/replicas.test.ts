import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { DEDUP_BUCKET } from '../../src/jetstream/dedup-store.ts'
import { kvStream } from '../../src/jetstream/replicas.ts'
import { NODE_BUCKET } from '../../src/jetstream/running-set.ts'
import { DLQ_STREAM, EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { compileNodeConfig, startNode } from '../../src/node/mod.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { APPROVALS_BUCKET, openApprovals } from '../../src/plugins/mod.ts'
import { NOTES_PIPELINE } from '../fixtures/api.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'
import { connectTest } from '../fixtures/nats.ts'
import { CONFIG_BASE, configRefusal } from '../fixtures/node-config.ts'
import { startTestCluster } from '../fixtures/nats-cluster.ts'

t.test('a replica count JetStream would refuse, or one a single managed server cannot hold, is refused before anything starts', async (t) => {
  for (const replicas of [0, 6, 1.5]) {
    t.throws(() => compileNodeConfig({ ...CONFIG_BASE, nats: { url: 'nats://127.0.0.1:4222' }, streams: { replicas } }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'streams.replicas', message: `must be an integer from 1 to 5, got ${replicas}` }] })
  }
  const serve = { host: '127.0.0.1', port: 4222, storeDir: '/tmp/x', syncInterval: 'always' }
  t.match(configRefusal({ nats: { serve }, streams: { replicas: 3 } }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'streams.replicas', message: /3 copies need a NATS cluster/ }] })
  t.ok(compileNodeConfig({ ...CONFIG_BASE, nats: { serve }, streams: { replicas: 1 } }))
  t.match(configRefusal({ nats: { url: 'nats://127.0.0.1:1,127.0.0.1:2' } }), { code: 'OMNI_ERR_CONFIG', problems: [{ where: 'nats.url', message: '"127.0.0.1:2" is not a NATS URL (nats://host:port)' }] }, 'each URL of a cluster is checked')
})

t.test('a node on a 3-node cluster with replicas 3: every stream and bucket it keeps has three copies, one made earlier with one is raised', async (t) => {
  const cluster = await startTestCluster(t)
  const nc = await connectTest(t, cluster)
  const jsm = await jetstreamManager(nc)
  // a CLI command (omni plugin approve) made this bucket before the platform ran: one copy
  await openApprovals(jetstream(nc))
  t.equal((await jsm.streams.info(kvStream(APPROVALS_BUCKET))).config.num_replicas, 1)

  const warnings: string[] = []
  const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(line) } })
  const manifests = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG, 'pipelines/notes.yaml': NOTES_PIPELINE })
  const node = await startNode({
    nats: { url: cluster.url },
    manifests,
    lookup: testLookup,
    logger,
    watch: false,
    streams: { replicas: 3, maxBytes: 64 * 1024 * 1024, rawMaxBytes: 64 * 1024 * 1024 },
  })
  t.teardown(() => node.close())
  const expected = [EVENTS_STREAM, DLQ_STREAM, RAW_STREAM, kvStream(DEDUP_BUCKET), kvStream(NODE_BUCKET), kvStream(APPROVALS_BUCKET)]
  const seen: Record<string, number> = {}
  for await (const s of jsm.streams.list()) seen[s.config.name] = s.config.num_replicas
  for (const name of expected) t.equal(seen[name], 3, `${name} has 3 replicas`)
  t.same(Object.entries(seen).filter(([, n]) => n !== 3), [], 'no stream on the server has fewer')
  t.ok(warnings.some((w) => w.includes(`stream ${kvStream(APPROVALS_BUCKET)}: replicas raised from 1 to 3 as configured`)), warnings.join('\n'))
})
