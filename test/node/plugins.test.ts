import { readdir, readFile, appendFile, cp } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { jetstream } from '@nats-io/jetstream'
import { openApprovals, verifyPlugin, type SigningKey } from '../../src/plugins/mod.ts'
import type { SettledEvent } from '../../src/pipeline/worker.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { eventually, readSubject, startTestFabric } from '../fixtures/fabric.ts'
import { TEST_CATALOG } from '../fixtures/manifests.ts'
import { createSignedPlugin, createTestTrust, NOW, tempDir, type TestPluginOptions, type TestTrust } from '../fixtures/plugins.ts'
import type { ManagedNatsServer } from '../../src/server/mod.ts'
import type { Fabric } from '../fixtures/fabric.ts'

const SHOUT = `function stage(input) {
  if (input.event.data.text === 'boom') throw new Error('boom on purpose')
  return { type: 'continue', data: { text: String(input.event.data.text).toUpperCase() } }
}`
const WATCHER = `function stage(input) {
  // it runs after the approved stage of its level, so it sees the shouted text
  if (input.event.data.text === 'HANG') { while (true) {} }
  return { type: 'continue', data: { text: 'the alpha rewrite' }, emit: [{ subject: 'omni.evt.lab.seen.v1', event: { ...input.event, id: input.event.id + '-seen', type: 'lab.seen' } }] }
}`

const PIPELINE = `kind: Pipeline
name: p
sources: [omni.evt.test.note-created.v1]
errorPolicy: { maxDeliveries: 2, backoff: [100ms] }
stages:
  - { id: watch, uses: 'plugin:lab.watch' }
  - { id: shout, uses: 'plugin:acme.shout' }
outputs:
  - subject: omni.evt.test.shouted.v1
`

interface Setup {
  readonly trust: TestTrust
  readonly plugins: string
  readonly publisher: SigningKey
}

/** What the alpha watcher emits is held to the catalog, so its type is declared. */
const WATCH_CATALOG = `${TEST_CATALOG}  - type: lab.seen
    version: 1
    idempotency: [data.noteId]
`

/** A plugins folder with a verified approved-path plugin and an alpha one, both isolates. */
async function setup(t: Test, extra: Partial<Record<'shout' | 'watch', TestPluginOptions>> = {}): Promise<Setup> {
  const trust = await createTestTrust(t)
  const publisher = await trust.publisher('verified')
  const plugins = await tempDir(t, 'plugins')
  const shout = await createSignedPlugin(t, publisher, { id: 'acme.shout', tier: 'verified', emit: [], files: { 'stage.js': SHOUT }, ...extra.shout })
  const watch = await createSignedPlugin(t, publisher, { id: 'lab.watch', tier: 'alpha', emit: ['omni.evt.lab.>'], files: { 'stage.js': WATCHER }, ...extra.watch })
  await cp(shout, join(plugins, 'acme.shout'), { recursive: true })
  await cp(watch, join(plugins, 'lab.watch'), { recursive: true })
  return { trust, plugins, publisher }
}

async function approveAll(t: Test, server: ManagedNatsServer, s: Setup): Promise<void> {
  const nc = await connectTest(t, server)
  const approvals = await openApprovals(jetstream(nc))
  const trust = await s.trust.load()
  for (const id of await readdir(s.plugins)) await approvals.approve(await verifyPlugin(join(s.plugins, id), trust, { cluster: 'local', now: NOW }), 'test')
}

const hostOptions = async (t: Test, s: Setup) => ({
  dir: s.plugins,
  trust: s.trust.dir,
  cluster: 'local',
  dockerSocket: join(await tempDir(t, 'nodocker'), 'docker.sock'),
  workDir: await tempDir(t, 'sandbox'),
  now: () => NOW,
})

/** Child processes of this test process (the isolate host is one). */
async function children(): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid === process.pid) pids.push(Number(entry))
  }
  return pids
}

const publish = (fabric: Fabric, text: string, id: string) =>
  fabric.publisher.publish(
    'omni.evt.test.note-created.v1',
    Buffer.from(JSON.stringify({ specversion: '1.0', id, source: 'test', type: 'note.created', time: '2026-11-22T00:00:00Z', data: { noteId: id, text }, tenant: 't1', visibility: 'local', idempotencykey: `k-${id}` })),
    { msgID: `k-${id}` },
  )

const settledFor = (settled: SettledEvent[], predicate: (e: SettledEvent) => boolean) => settled.find(predicate)

t.test('signed isolate plugins run on the approved path and additively, and their failures never take the worker down', async (t) => {
  const s = await setup(t)
  const server = await startTestNats(t)
  await t.rejects(startTestFabric(t, PIPELINE, { server, plugins: await hostOptions(t, s) }), { code: 'OMNI_ERR_PLUGIN_APPROVAL' }, 'nothing runs before its capabilities are approved')
  await approveAll(t, server, s)
  const before = await children()
  const { fabric, settled } = await startTestFabric(t, PIPELINE, { server, catalog: WATCH_CATALOG, plugins: await hostOptions(t, s) })
  t.ok((await children()).length > before.length, 'the isolate process started with the pipeline that uses it')
  t.same(
    fabric.pluginStatus().map((p) => [p.id, p.state, p.additive]),
    [['acme.shout', 'running', false], ['lab.watch', 'running', true]],
  )

  await publish(fabric, 'hello', 'e1')
  t.ok(await eventually(async () => (await readSubject(fabric, 'omni.evt.test.shouted.v1')).length === 1), 'the output was stored')
  const [out] = await readSubject(fabric, 'omni.evt.test.shouted.v1')
  t.equal((out?.['data'] as Record<string, unknown>)['text'], 'HELLO', 'the approved plugin changed the event; the alpha rewrite was not applied')
  t.equal((await readSubject(fabric, 'omni.evt.lab.seen.v1')).length, 1, "the alpha plugin's own message was published")

  await publish(fabric, 'hang', 'e2')
  const isHang = (e: SettledEvent) => e.type === 'acked' && e.outcome.type === 'done' && e.outcome.event.id === 'e2'
  t.ok(await eventually(() => settled.some(isHang), 20_000), 'an alpha plugin that hangs does not block the event')
  const hung = settledFor(settled, isHang)
  t.match(hung, { type: 'acked', outcome: { outcomes: [{ stage: 'shout', type: 'ran' }, { stage: 'watch', type: 'failed', error: /lab\.watch timed out/ }] } }, 'its timeout is recorded as a stage outcome')

  await publish(fabric, 'boom', 'e3')
  t.ok(await eventually(() => settled.some((e) => e.type === 'dead-lettered'), 20_000), 'an approved plugin that throws is retried, then dead-lettered')
  t.match(settledFor(settled, (e) => e.type === 'dead-lettered'), { stage: 'shout', attempt: 2, error: /acme\.shout threw: (Error: )?boom on purpose/ })
  t.match(settledFor(settled, (e) => e.type === 'retry'), { stage: 'shout', attempt: 1 })

  await publish(fabric, 'after', 'e4')
  t.ok(await eventually(async () => (await readSubject(fabric, 'omni.evt.test.shouted.v1')).length === 3), 'the worker goes on after both failures')
  t.equal(fabric.state, 'running')
})

t.test('no sandbox starts when no pipeline uses a plugin', async (t) => {
  const s = await setup(t)
  const server = await startTestNats(t)
  const before = await children()
  const { fabric } = await startTestFabric(t, `kind: Pipeline\nname: p\nsources: [omni.evt.test.note-created.v1]\nstages:\n  - { id: e, uses: transform.enrich, with: { set: { x: 1 } } }\n`, { server, plugins: await hostOptions(t, s) })
  t.same(await children(), before, 'no isolate process')
  t.same(fabric.pluginStatus().map((p) => p.state), ['verified', 'verified'])
})

t.test('a plugin that fails verification is refused where a pipeline uses it', async (t) => {
  const s = await setup(t)
  await appendFile(join(s.plugins, 'acme.shout', 'stage.js'), '\n// one more line\n')
  const err = await startTestFabric(t, PIPELINE, { plugins: await hostOptions(t, s) }).catch((e: unknown) => e)
  t.match(err, { code: 'OMNI_ERR_MANIFEST', problems: [{ where: /p\.yaml:\d+:\d+/, message: /plugin acme\.shout cannot be used: OMNI_ERR_PLUGIN_MANIFEST: .*stage\.js/ }] })
})

t.test('an uninstalled plugin is named with the fix', async (t) => {
  const s = await setup(t)
  const err = await startTestFabric(t, PIPELINE.replace('plugin:acme.shout', 'plugin:acme.missing'), { plugins: await hostOptions(t, s) }).catch((e: unknown) => e)
  t.match(err, { code: 'OMNI_ERR_MANIFEST', problems: [{ message: /plugin acme\.missing is not installed in .*omni plugin install acme\.missing@<version>/ }] })
})

t.test('a rollback to an older serial is refused by the fabric', async (t) => {
  const newer = await setup(t, { shout: { serial: 5 } })
  const server = await startTestNats(t)
  await approveAll(t, server, newer)
  const first = await startTestFabric(t, PIPELINE, { server, plugins: await hostOptions(t, newer) })
  await first.fabric.close()
  const older = await setup(t, { shout: { serial: 4 } })
  await approveAll(t, server, older)
  await t.rejects(startTestFabric(t, PIPELINE, { server, plugins: await hostOptions(t, older) }), { code: 'OMNI_ERR_PLUGIN_ROLLBACK' })
})

t.test('a verified in-process plugin that spins is stopped at its timeoutMs; the worker, its timers and the next events go on', async (t) => {
  const SPIN = `function stage(input) {
  if (input.event.data.text === 'spin') { while (true) {} }
  return { type: 'continue', data: { text: String(input.event.data.text).toUpperCase() } }
}`
  const s = await setup(t, { shout: { runtime: 'inprocess', timeoutMs: 300, files: { 'stage.js': SPIN } } })
  const server = await startTestNats(t)
  await approveAll(t, server, s)
  const { fabric, settled } = await startTestFabric(t, PIPELINE.replace("  - { id: watch, uses: 'plugin:lab.watch' }\n", ''), { server, plugins: await hostOptions(t, s) })
  // the worker's thread must stay free: the longest gap between ticks of a 20 ms timer
  let last = performance.now()
  let longestGap = 0
  const ticker = setInterval(() => {
    const now = performance.now()
    longestGap = Math.max(longestGap, now - last)
    last = now
  }, 20)
  t.teardown(() => clearInterval(ticker))

  await publish(fabric, 'spin', 's1')
  t.ok(await eventually(() => settled.some((e) => e.type === 'dead-lettered'), 20_000), 'the spinning event is retried, then dead-lettered')
  t.match(settledFor(settled, (e) => e.type === 'dead-lettered'), { stage: 'shout', attempt: 2, error: /acme\.shout timed out/ })
  await publish(fabric, 'after', 's2')
  t.ok(await eventually(async () => (await readSubject(fabric, 'omni.evt.test.shouted.v1')).length === 1), 'the next event is processed')
  t.ok(longestGap < 250, `the worker's timers kept firing while the plugin spun (longest gap ${Math.round(longestGap)} ms)`)
  t.equal(fabric.state, 'running')
})

t.test('a plugin that breaks its sandbox on every event: the approved path dead-letters each event once with its bytes, the alpha stage beside it emits nothing; none lost or doubled', async (t) => {
  // every call runs the isolate out of memory, so the isolate is thrown away and rebuilt each time
  const HOG = `function stage(input) {
  const hoard = []
  while (true) hoard.push({ text: 'x'.repeat(1024) + Math.random(), at: hoard.length })
}`
  const s = await setup(t, { shout: { files: { 'stage.js': HOG }, memoryMb: 16 }, watch: { files: { 'stage.js': HOG }, memoryMb: 16 } })
  const server = await startTestNats(t)
  await approveAll(t, server, s)
  const { fabric, settled } = await startTestFabric(t, PIPELINE, { server, catalog: WATCH_CATALOG, plugins: await hostOptions(t, s) })
  const sent = new Map<string, Buffer>()
  for (let i = 0; i < 8; i++) {
    const id = `hog-${i}`
    const bytes = Buffer.from(JSON.stringify({ specversion: '1.0', id, source: 'test', type: 'note.created', time: '2026-11-22T00:00:00Z', data: { noteId: id, text: 'x' }, tenant: 't1', visibility: 'local', idempotencykey: `k-${id}` }))
    sent.set(id, bytes)
    await fabric.publisher.publish('omni.evt.test.note-created.v1', bytes, { msgID: `k-${id}` })
  }
  // an event may be delivered again while its slow attempt still runs; its dead letter's id is
  // derived from its sequence, so the stream keeps one letter per event
  const ended = () => new Set(settled.flatMap((e) => (e.type === 'dead-lettered' ? [e.seq] : []))).size
  t.ok(await eventually(() => ended() >= sent.size, 60_000), 'every event reached its end')
  const letters = await fabric.node.deadLetters.list({ pipeline: 'p' })
  const ids = letters.map((l) => JSON.parse(Buffer.from(l.data).toString('utf8')).id as string)
  t.same([...ids].sort(), [...sent.keys()].sort(), 'each event has exactly one dead letter')
  for (const l of letters) {
    const id = JSON.parse(Buffer.from(l.data).toString('utf8')).id as string
    t.same(Buffer.from(l.data), sent.get(id), `${id}: the original bytes`)
    t.match(l, { stage: 'shout', error: /plugin acme\.shout ran out of memory|stage shout \(plugin:acme\.shout\) took longer/ })
  }
  t.equal(settled.filter((e) => e.type === 'acked').length, 0, 'nothing was acked as done')
  t.equal((await readSubject(fabric, 'omni.evt.test.shouted.v1')).length, 0, 'no output')
  t.equal((await readSubject(fabric, 'omni.evt.lab.seen.v1')).length, 0, 'the alpha plugin emitted nothing')
  t.equal(fabric.state, 'running')
})

t.test('an alpha plugin that breaks its sandbox on every event: each event goes on once, the failure recorded as its outcome', async (t) => {
  const HOG = `function stage(input) {
  const hoard = []
  while (true) hoard.push({ text: 'x'.repeat(1024) + Math.random(), at: hoard.length })
}`
  const s = await setup(t, { watch: { files: { 'stage.js': HOG }, memoryMb: 16 } })
  const server = await startTestNats(t)
  await approveAll(t, server, s)
  const { fabric, settled } = await startTestFabric(t, PIPELINE.replace("  - { id: shout, uses: 'plugin:acme.shout' }\n", ''), { server, plugins: await hostOptions(t, s) })
  const ids = Array.from({ length: 6 }, (_, i) => `alpha-hog-${i}`)
  for (const id of ids) await publish(fabric, 'x', id)
  t.ok(await eventually(async () => (await readSubject(fabric, 'omni.evt.test.shouted.v1')).length >= ids.length, 60_000), 'every event went on')
  const outputs = (await readSubject(fabric, 'omni.evt.test.shouted.v1')).map((e) => e['id'])
  t.equal(outputs.length, ids.length, 'one output each, none doubled')
  t.same(new Set(outputs).size, ids.length)
  const acked = settled.filter((e) => e.type === 'acked')
  t.ok(acked.every((e) => e.type === 'acked' && e.outcome.type === 'done' && e.outcome.outcomes.some((o) => o.stage === 'watch' && o.type === 'failed')), 'the failure is the alpha stage\'s outcome')
  t.equal(settled.filter((e) => e.type === 'dead-lettered').length, 0, 'nothing dead-lettered')
})
