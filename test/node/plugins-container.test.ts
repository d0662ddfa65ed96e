import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { jetstream } from '@nats-io/jetstream'
import { openApprovals, verifyPlugin } from '../../src/plugins/mod.ts'
import type { SettledEvent } from '../../src/pipeline/worker.ts'
import { testDocker } from '../fixtures/docker.ts'
import { eventually, readSubject, startTestFabric } from '../fixtures/fabric.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { createSignedPlugin, createTestTrust, NOW, tempDir } from '../fixtures/plugins.ts'

const COUNT = `function stage(input) {
  return { type: 'continue', data: { wordCount: String(input.event.data.text).split(/\\s+/).filter(Boolean).length } }
}`
// a community plugin that tries the network and then dies on one event
const RUDE = `function stage(input) {
  if (input.event.data.text === 'die') { const p = globalThis.process; if (p) p.exit(1); throw new Error('no process to exit') }
  return { type: 'continue', labels: { rude: true } }
}`

const PIPELINE = `kind: Pipeline
name: p
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: count, uses: 'plugin:acme.count' }
  - { id: rude, uses: 'plugin:lab.rude' }
outputs:
  - subject: omni.evt.test.counted.v1
`

t.test('signed container plugins run through the fabric: approved and additive', async (t) => {
  const docker = await testDocker(t)
  if (!docker) return
  const trust = await createTestTrust(t)
  const publisher = await trust.publisher('verified')
  const plugins = await tempDir(t, 'plugins')
  for (const p of [
    { id: 'acme.count', tier: 'verified' as const, source: COUNT },
    { id: 'lab.rude', tier: 'community' as const, source: RUDE },
  ]) {
    const dir = await createSignedPlugin(t, publisher, { id: p.id, tier: p.tier, runtime: 'container', image: docker.image.ref, emit: [], timeoutMs: 3000, files: { 'stage.js': p.source } })
    await cp(dir, join(plugins, p.id), { recursive: true })
  }
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const approvals = await openApprovals(jetstream(nc))
  for (const id of await readdir(plugins)) await approvals.approve(await verifyPlugin(join(plugins, id), await trust.load(), { cluster: 'local', now: NOW }), 'test')

  const started = performance.now()
  const { fabric, settled } = await startTestFabric(t, PIPELINE, {
    server,
    plugins: { dir: plugins, trust: trust.dir, cluster: 'local', dockerSocket: docker.socketPath, workDir: await tempDir(t, 'sandbox'), now: () => NOW },
  })
  const publish = (id: string, text: string) =>
    fabric.publisher.publish(
      'omni.evt.test.note-created.v1',
      Buffer.from(JSON.stringify({ specversion: '1.0', id, source: 'test', type: 'note.created', time: '2026-11-22T00:00:00Z', data: { noteId: id, text }, tenant: 't1', visibility: 'local', idempotencykey: `k-${id}` })),
      { msgID: `k-${id}` },
    )
  await publish('c1', 'three little words')
  t.ok(await eventually(async () => (await readSubject(fabric, 'omni.evt.test.counted.v1')).length === 1, 20_000), 'the output was stored')
  t.comment(`first event ${Math.round(performance.now() - started)} ms after the fabric started`)
  const [out] = await readSubject(fabric, 'omni.evt.test.counted.v1')
  t.equal((out?.['data'] as Record<string, unknown>)['wordCount'], 3)

  await publish('c2', 'die')
  const isDie = (e: SettledEvent) => e.type === 'acked' && e.outcome.type === 'done' && e.outcome.event.id === 'c2'
  t.ok(await eventually(() => settled.some(isDie), 30_000), 'a community plugin that fails does not block the event')
  t.match(settled.find(isDie), { outcome: { outcomes: [{ stage: 'count', type: 'ran' }, { stage: 'rude', type: 'failed', error: /lab\.rude/ }] } })

  await publish('c3', 'and on it goes')
  t.ok(await eventually(async () => (await readSubject(fabric, 'omni.evt.test.counted.v1')).length === 3, 20_000), 'the worker and the sidecars go on')
  await fabric.close()
  const left = await docker.docker.listContainers({ all: true, filters: { label: ['omni.fabric.plugin'] } })
  t.same(left.filter((c) => ['acme.count', 'lab.rude'].includes(c.Labels['omni.fabric.plugin'] ?? '')), [], 'closing the fabric removed its containers')
})
