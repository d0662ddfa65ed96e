import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { connect } from '@nats-io/transport-node'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { isOmniError } from '../../src/errors/mod.ts'
import { readRunningSets } from '../../src/jetstream/running-set.ts'
import { nodeInternals } from '../../src/node/internals.ts'
import { compileNodeConfig, startNode, type NodeStatus, type OmniNode } from '../../src/node/mod.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import { NOTES_PIPELINE } from '../fixtures/api.ts'
import { eventually } from '../fixtures/fabric.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'
import { startTestNats } from '../fixtures/nats.ts'

/** A port nothing listens on now (the kernel's pick, released at once). */
async function freePort(host: string): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, host, r))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function manifests(t: Test): Promise<string> {
  return writeManifests(t, { 'catalog.yaml': TEST_CATALOG, 'pipelines/notes.yaml': NOTES_PIPELINE })
}

async function storeDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-node-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Reads status() in the background into `seen`, until the node closes. */
function collect(node: OmniNode): NodeStatus[] {
  const seen: NodeStatus[] = []
  void (async () => {
    for await (const s of node.status()) seen.push(s)
  })()
  return seen
}

t.test('a node it starts owns its nats-server: close() drains and stops it, in reverse order, and readers see the end', async (t) => {
  const dir = await storeDir(t)
  const node = await startNode({
    nats: { serve: { host: '127.0.0.1', port: await freePort('127.0.0.1'), storeDir: join(dir, 'nats'), syncInterval: 'always', credentialsFile: join(dir, 'nats-credentials') } },
    manifests: await manifests(t),
    lookup: testLookup,
    logger: silentLogger(),
    watch: false,
  })
  const seen = collect(node)
  await t.rejects(connect({ servers: node.describe().nats.url, reconnect: false, timeout: 2000 }), /Authorization Violation/i, 'its server admits no anonymous client')
  t.equal(node.state, 'running')
  const described = node.describe()
  const pid = described.nats.managed?.pid ?? 0
  t.ok(pid > 0 && alive(pid), 'its nats-server runs')
  await node.ingest.event({ type: 'note.created', data: { noteId: 'n1', text: 'hi' } } as never)
  t.ok(await eventually(() => seen.some((s) => s.type === 'acked')), 'status() reports the settled event')
  t.same((await node.health()).checks.fabric, { ok: true, detail: 'running' })
  await node.close()
  await node.close()
  t.equal(node.state, 'stopped', 'close() is idempotent')
  await node.closed()
  t.notOk(alive(pid), 'its nats-server is stopped')
  t.equal(seen.at(-1)?.type, 'stopped', 'readers get the stop, then their stream ends')
})

t.test('a start that fails half way releases what it had started', async (t) => {
  const dir = await storeDir(t)
  const port = await freePort('127.0.0.1')
  const started = startNode({
    nats: { serve: { host: '127.0.0.1', port, storeDir: join(dir, 'nats'), syncInterval: 'always' } },
    manifests: await manifests(t),
    lookup: testLookup,
    logger: silentLogger(),
    watch: false,
    // nothing listens there: the sink fails after the server, the connection and the streams are up
    clickhouse: resolveClickHouseConfig({ url: `http://127.0.0.1:${await freePort('127.0.0.1')}`, database: 'omni' }),
  })
  await t.rejects(started, 'the start fails')
  // the server's port is free again: the same node can start on it
  const node = await startNode({ nats: { serve: { host: '127.0.0.1', port, storeDir: join(dir, 'nats'), syncInterval: 'always' } }, manifests: await manifests(t), lookup: testLookup, logger: silentLogger(), watch: false })
  t.equal(node.state, 'running', 'nothing of the failed start holds the port or the store')
  await node.close()
})

t.test('a failure survives close(), and close() is bounded when the server is gone', async (t) => {
  const server = await startTestNats(t)
  const node = await startNode({ nats: { url: server.url }, manifests: await manifests(t), lookup: testLookup, logger: silentLogger(), watch: false })
  const seen = collect(node)
  // the connection closed for good (what a server that never comes back ends in)
  await nodeInternals(node).nc.close()
  t.ok(await eventually(() => node.state === 'failed'), 'the node fails')
  t.match(node.failure, /NATS connection closed/)
  t.ok(seen.some((s) => s.type === 'failed'), 'status() says so')
  const before = Date.now()
  await node.close()
  t.ok(Date.now() - before < 15_000, 'close() finishes')
  t.equal(node.state, 'failed', 'the failed state is kept after close')
  t.match(node.failure, /NATS connection closed/)
})

t.test('the node records its running set, so a process beside it sees a pipeline removed through the node', async (t) => {
  const server = await startTestNats(t)
  const node = await startNode({ nats: { url: server.url }, manifests: await manifests(t), lookup: testLookup, logger: silentLogger(), watch: false })
  t.teardown(() => node.close())
  const { js } = nodeInternals(node)
  t.same((await readRunningSets(js))?.map((s) => s.pipelines), [['notes']])
  await node.pipelines.remove('notes')
  t.same((await readRunningSets(js))?.map((s) => s.pipelines), [[]], 'removed from the recorded set')
  t.same(node.pipelines.list(), [], 'and from the node')
})

t.test('two nodes on one server: the running sets are kept apart and joined, and a stopped node leaves it', async (t) => {
  const server = await startTestNats(t)
  const a = await startNode({ nats: { url: server.url }, manifests: await manifests(t), lookup: testLookup, logger: silentLogger(), watch: false })
  const other = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG, 'pipelines/audit.yaml': NOTES_PIPELINE.replace('name: notes', 'name: audit') })
  const b = await startNode({ nats: { url: server.url }, manifests: other, lookup: testLookup, logger: silentLogger(), watch: false })
  const { js } = nodeInternals(a)
  t.same((await readRunningSets(js))?.flatMap((s) => s.pipelines).sort(), ['audit', 'notes'], 'both nodes recorded their own set')
  await b.close()
  t.same((await readRunningSets(js))?.flatMap((s) => s.pipelines), ['notes'], 'a node that stops takes its set away')
  await a.close()
})

t.test('status() keeps what happened before the first reader, and replays a failure to later readers', async (t) => {
  const server = await startTestNats(t)
  const node = await startNode({ nats: { url: server.url }, manifests: await manifests(t), lookup: testLookup, logger: silentLogger(), watch: false })
  await node.ingest.event({ type: 'note.created', data: { noteId: 'early', text: 'hi' } } as never)
  await new Promise((r) => setTimeout(r, 300))
  const first = collect(node)
  t.ok(await eventually(() => first.some((s) => s.type === 'acked')), 'the first reader gets the ack that came before it')
  await nodeInternals(node).nc.close()
  t.ok(await eventually(() => node.state === 'failed'))
  const late = collect(node)
  t.ok(await eventually(() => late[0]?.type === 'failed'), 'a reader that comes after the failure learns of it')
  await node.close()
})

t.test('options are checked once, and every problem names its option', async (t) => {
  const base = { manifests: 'manifests', lookup: testLookup, logger: silentLogger() }
  try {
    compileNodeConfig({ ...base, nats: { url: 'localhost:4222' }, worker: { batch: 0, ackWaitMs: 1.5 } })
    t.fail('refused')
  } catch (err) {
    t.ok(isOmniError(err))
    if (!isOmniError(err)) return
    t.equal(err.code, 'OMNI_ERR_CONFIG')
    t.same(err.problems.map((p) => p.where).sort(), ['nats.url', 'worker.ackWaitMs', 'worker.batch'])
  }
  const config = compileNodeConfig({ ...base, nats: { url: 'nats://127.0.0.1:4222' } })
  t.ok(Object.isFrozen(config), 'the compiled config is frozen')
  t.equal(config.watch, true, 'defaults are filled')
  t.equal(config.clickhouse, false)
})
