import t from 'tap'
import { createCatalog } from '../../src/catalog/catalog.ts'
import { compileCatalogManifest } from '../../src/catalog/compile.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { executePipeline } from '../../src/pipeline/executor.ts'
import { omniError } from '../../src/errors/mod.ts'
import { compileText, testLookup } from '../fixtures/manifests.ts'
import { recorded } from '../fixtures/test-cartridges.ts'
import { shippedCatalog } from '../fixtures/webhooks/harness.ts'

const event = (data: Record<string, unknown>, id = 'e1'): Envelope => ({
  specversion: '1.0',
  id,
  source: 'test',
  type: 'note.created',
  time: '2026-11-22T00:00:00Z',
  data: { noteId: id, ...data },
  tenant: 't1',
  visibility: 'local',
  idempotencykey: `k-${id}`,
})

const emptyCatalog = createCatalog([])
const run = (text: string, e: Envelope, attempt = 1) => executePipeline(compileText(text), e, { catalog: emptyCatalog, services: { now: Date.now }, attempt })

const HEAD = `kind: Pipeline
name: p
sources: [omni.evt.test.note-created.v1]
`

t.test('levels run in order and a level\'s stages run concurrently', async (t) => {
  recorded.length = 0
  const outcome = await run(`${HEAD}stages:
  - { id: first, uses: test.record, with: { ms: 20 } }
  - { id: left, uses: test.record, needs: [first], with: { ms: 80 } }
  - { id: right, uses: test.record, needs: [first], with: { ms: 80 } }
  - { id: last, uses: test.record, needs: [left, right] }
`, event({}))
  t.equal(outcome.type, 'done')
  const at = (s: string) => recorded.find((r) => r.stage === s) as (typeof recorded)[number]
  t.ok(at('first').end <= at('left').start && at('first').end <= at('right').start, 'first finished before level 2 started')
  t.ok(at('left').start < at('right').end && at('right').start < at('left').end, 'left and right overlapped in time')
  t.ok(at('last').start >= Math.max(at('left').end, at('right').end), 'last started after both')
  if (outcome.type === 'done') t.same(Object.keys(outcome.labels).sort(), ['ran_first', 'ran_last', 'ran_left', 'ran_right'])
})

t.test('a CEL `when` decides whether a stage runs; missing fields mean false', async (t) => {
  const text = `${HEAD}stages:
  - { id: cls, uses: transform.classify, with: { rules: [{ when: 'data.text.startsWith("urgent")', class: urgent }] } }
  - { id: only-urgent, uses: test.record, needs: [cls], when: 'labels.class == "urgent"' }
  - { id: needs-field, uses: test.record, when: 'data.missing == 1' }
`
  const urgent = await run(text, event({ text: 'urgent: call back' }))
  const calm = await run(text, event({ text: 'fyi' }))
  t.equal(urgent.type, 'done')
  t.equal(calm.type, 'done')
  if (urgent.type === 'done' && calm.type === 'done') {
    t.equal(urgent.labels['ran_only-urgent'], true)
    t.equal(calm.labels['ran_only-urgent'], undefined)
    t.match(calm.outcomes, [{ stage: 'cls', type: 'ran' }, { stage: 'needs-field', type: 'skipped', reason: /when: .*missing/ }, { stage: 'only-urgent', type: 'skipped', reason: 'when: false' }])
  }
})

t.test('a drop stops the DAG and produces no outputs', async (t) => {
  const outcome = await run(`${HEAD}stages:
  - { id: trust, uses: guard.trust, with: { rules: [{ when: 'data.text == "spam"', outcome: reject, reason: spam }] } }
  - { id: after, uses: test.record, needs: [trust] }
outputs:
  - subject: omni.evt.test.seen.v1
`, event({ text: 'spam' }))
  t.match(outcome, { type: 'dropped', stage: 'trust', reason: /spam/, emissions: [] })
})

t.test('stage failures: retry is transient, dead-letter is permanent, skip carries on', async (t) => {
  const text = (onError: string) => `${HEAD}stages:
  - { id: flaky, uses: test.flaky, onError: ${onError} }
  - { id: after, uses: test.record, needs: [flaky] }
`
  t.match(await run(text('retry'), event({ fail: 1 })), { type: 'failed', stage: 'flaky', permanent: false, error: { message: /attempt 1/ } })
  t.match(await run(text('retry'), event({ fail: 1 }), 2), { type: 'done' })
  t.match(await run(text('dead-letter'), event({ fail: 1 })), { type: 'failed', stage: 'flaky', permanent: true })
  const skipped = await run(text('skip'), event({ fail: 1 }))
  t.match(skipped, { type: 'done', labels: { ran_after: true }, outcomes: [{ stage: 'flaky', type: 'failed' }, { stage: 'after', type: 'ran' }] })
})

t.test('a stage that outlives its timeout fails with OMNI_ERR_STAGE_TIMEOUT', async (t) => {
  const outcome = await run(`${HEAD}stages:
  - { id: slow, uses: test.record, timeout: 30ms, with: { ms: 500 } }
`, event({}))
  t.match(outcome, { type: 'failed', stage: 'slow', error: { code: 'OMNI_ERR_STAGE_TIMEOUT' } })
})

t.test("guard.dedup's wait on its store does not count against its timeout; a store that fails is an outage, under onError: skip too", async (t) => {
  const slowStore = { has: () => new Promise<boolean>((r) => setTimeout(() => r(false), 200)), mark: async () => undefined }
  const exec = (onError: string, dedup: typeof slowStore) =>
    executePipeline(compileText(`${HEAD}stages:
  - { id: dedup, uses: guard.dedup, timeout: 30ms, onError: ${onError} }
`), event({}), { catalog: emptyCatalog, services: { now: Date.now, dedup }, attempt: 1 })
  t.match(await exec('retry', slowStore), { type: 'done' }, 'a store answering after 200 ms, past the 30 ms limit: the stage passes')
  const down = { has: () => Promise.reject(omniError('OMNI_ERR_NATS_UNAVAILABLE', 'the dedup store did not answer')), mark: async () => undefined }
  for (const onError of ['retry', 'skip', 'dead-letter']) {
    t.match(await exec(onError, down), { type: 'failed', stage: 'dedup', outage: true, permanent: false }, `onError: ${onError}: an outage, neither skipped nor dead-lettered`)
  }
})

t.test('outputs: conditions, per-target transforms, catalog fan-out', async (t) => {
  const catalogManifest = parseYamlManifest('c.yaml', `kind: EventCatalog
producer: test
events:
  - type: note.created
    version: 1
    idempotency: [data.noteId]
    fanout:
      - subject: omni.cmd.test.note-full.v1
      - subject: omni.evt.test.note-preview.v1
        transform: [{ uses: transform.truncate, with: { fields: { text: 5 }, suffix: '' } }]
`)
  const { entries, problems } = compileCatalogManifest(catalogManifest, testLookup)
  t.same(problems, [])
  const pipeline = compileText(`${HEAD}stages: []
outputs:
  - subject: omni.evt.test.redacted.v1
    transform: [{ uses: transform.redact, with: { paths: [text] } }]
  - subject: omni.evt.test.only-long.v1
    when: 'size(data.text) > 100'
  - fanout: catalog
`)
  const outcome = await executePipeline(pipeline, event({ text: 'hello world' }), { catalog: createCatalog(entries), services: { now: Date.now }, attempt: 1 })
  t.equal(outcome.type, 'done')
  if (outcome.type !== 'done') return
  t.same(outcome.emissions.map((e) => [e.subject, e.event.data['text']]), [
    ['omni.evt.test.redacted.v1', '[redacted]'],
    ['omni.cmd.test.note-full.v1', 'hello world'],
    ['omni.evt.test.note-preview.v1', 'hello'],
  ])
})

t.test('what a built-in stage emits must be a catalog type with valid data; else the stage fails for good', async (t) => {
  const shipped = await shippedCatalog()
  const withCatalog = (text: string, e: Envelope) => executePipeline(compileText(text), e, { catalog: shipped, services: { now: Date.now }, attempt: 1 })
  const command = (type: string) => `${HEAD}stages:
  - { id: cmd, uses: route.command, with: { subject: omni.cmd.test.do.v1, type: ${type} } }
outputs: []
`
  const undeclared = await withCatalog(command('made.up.thing'), event({}))
  t.match(undeclared, { type: 'failed', stage: 'cmd', permanent: true, error: { code: 'OMNI_ERR_EVENT_INVALID', message: /stage cmd emitted an event of type "made\.up\.thing" on omni\.cmd\.test\.do\.v1, which the catalog does not declare/ } })
  // the shipped catalog declares what the built-in stages emit (seed 000's playbook)
  const reply = await withCatalog(`${HEAD}stages:
  - { id: reply, uses: route.agent.personal }
  - { id: stt, uses: route.command, with: { subject: omni.cmd.stt.transcribe.v1, type: media.transcription.requested } }
  - { id: trust, uses: guard.trust, needs: [reply, stt], with: { rules: [{ when: 'true', outcome: quarantine, reason: held }] } }
outputs: []
`, event({ text: 'hi' }))
  t.match(reply, { type: 'dropped', stage: 'trust' })
  if (reply.type !== 'dropped') return
  t.same(reply.emissions.map((e) => e.event.type), ['agent.reply.requested', 'media.transcription.requested', 'omni.event.quarantined'])
  // declared, but with data its schema refuses: agent.reply.requested needs a non-empty agent name
  const bad = await withCatalog(`${HEAD}stages:
  - { id: cmd, uses: route.command, with: { subject: omni.cmd.test.do.v1, type: agent.reply.requested } }
outputs: []
`, event({}))
  t.match(bad, { type: 'failed', stage: 'cmd', permanent: true, error: { message: /stage cmd emitted an invalid agent\.reply\.requested event on omni\.cmd\.test\.do\.v1: \$\.data\.agent: is required/ } })
  // a type only the node publishes: no stage (a sandboxed plugin above all) may raise a cartridge event
  const reserved = await withCatalog(command('cartridge.published'), event({}))
  t.match(reserved, { type: 'failed', stage: 'cmd', permanent: true, error: { message: /stage cmd emitted an event on omni\.cmd\.test\.do\.v1: cartridge\.published is published by the node itself: POST \/v1\/plugins\/:id\/publish .*; a stage may not emit it/ } })
})
