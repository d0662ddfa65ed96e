import t, { type Test } from 'tap'
import { createCatalog } from '../../src/catalog/catalog.ts'
import { compileCatalogManifest } from '../../src/catalog/compile.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import type { Cartridge } from '../../src/pipeline/stage.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import { executePipeline, type EventOutcome } from '../../src/pipeline/executor.ts'
import { pluginCartridge } from '../../src/pipeline/plugin-stage.ts'
import type { CartridgeLookup } from '../../src/pipeline/stage-builder.ts'
import { createInprocessRuntime } from '../../src/sandbox/inprocess.ts'
import type { PluginInstance, PluginOutput } from '../../src/sandbox/types.ts'
import { compileText, testLookup } from '../fixtures/manifests.ts'

const event = (id: string, data: Record<string, unknown> = {}, tenant = 't1'): Envelope => ({
  specversion: '1.0',
  id,
  source: 'test',
  type: 'note.created',
  time: '2026-11-22T00:00:00Z',
  data: { noteId: id, text: `hello ${id}`, ...data },
  tenant,
  visibility: 'local',
  idempotencykey: `k-${id}`,
})

const SHOUT = `function stage(input) {
  if (input.event.data.boom) throw new Error('boom for ' + input.event.id)
  return { type: 'continue', data: { text: String(input.event.data.text).toUpperCase() }, labels: { shouted: true } }
}`
const PROPOSE = `function stage(input) {
  if (input.event.data.boom) throw new Error('alpha broke')
  const e = input.event
  return { type: 'continue', data: { text: 'alpha was here' }, emit: [{ subject: 'omni.evt.alpha.proposed.v1', event: { ...e, id: e.id + '-alpha', type: 'alpha.proposed' } }] }
}`
const WRONG_SUBJECT = `function stage(input) { return { type: 'continue', emit: [{ subject: 'omni.cmd.bank.transfer.v1', event: input.event }] } }`

const LIMITS = { memoryMb: 64, timeoutMs: 1000, cpus: 0.5, pids: 32 }

/** Loads plugins in process and wraps each instance to count its calls. */
async function pluginLookup(t: Test, plugins: Record<string, { source: string; additive?: boolean; emit?: string[]; tenants?: string[] }>) {
  const runtime = createInprocessRuntime()
  t.teardown(() => runtime.close())
  const calls: Record<string, number[]> = {}
  const carts = new Map<string, Cartridge>()
  for (const [id, p] of Object.entries(plugins)) {
    const loaded = await runtime.load({ id, version: '1.0.0', dir: '.', main: 'stage.js', source: p.source, limits: LIMITS })
    calls[id] = []
    const counted: PluginInstance = { ...loaded, run: (inputs) => (calls[id]?.push(inputs.length), loaded.run(inputs)) }
    const cart = pluginCartridge({ plugin: id, description: id, additive: p.additive ?? false, tenants: p.tenants ?? ['*'], emit: p.emit ?? [], instance: async () => counted })
    carts.set(cart.id, cart as Cartridge)
  }
  const lookup: CartridgeLookup = (id) => carts.get(id) ?? testLookup(id)
  return { lookup, calls }
}


const HEAD = `kind: Pipeline
name: p
sources: [omni.evt.test.note-created.v1]
`
// what plugins emit is held to the catalog: the types they emit here are declared
const CATALOG = compileCatalogManifest(
  parseYamlManifest(
    'catalog.yaml',
    `kind: EventCatalog
producer: test
events:
  - { type: note.created, version: 1, idempotency: [data.noteId] }
  - { type: alpha.proposed, version: 1, idempotency: [data.noteId] }
  - { type: acme.planted, version: 1, idempotency: [data.noteId] }
  - { type: bank.transfer, version: 1, idempotency: [data.noteId] }
`,
  ),
  testLookup,
)
if (CATALOG.problems.length > 0) throw new Error(JSON.stringify(CATALOG.problems))
const catalog = createCatalog(CATALOG.entries)
const exec = (pipeline: ReturnType<typeof compileText>, e: Envelope) => Promise.resolve(executePipeline(pipeline, e, { catalog, services: { now: Date.now }, attempt: 1 }))

t.test('an approved plugin changes the event; calls made in one turn cross as one batch', async (t) => {
  const { lookup, calls } = await pluginLookup(t, { 'acme.shout': { source: SHOUT } })
  const pipeline = compileText(`${HEAD}stages:\n  - { id: shout, uses: 'plugin:acme.shout' }\n`, lookup)
  const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => exec(pipeline, event(`e${i}`))))
  t.ok(outcomes.every((o) => o.type === 'done'))
  const first = outcomes[0] as Extract<EventOutcome, { type: 'done' }>
  t.equal(first.event.data['text'], 'HELLO E0')
  t.equal(first.labels['shouted'], true)
  t.same(calls['acme.shout'], [100], 'one call carried all 100 events')
})

t.test('an approved plugin that throws fails only its event, which is retried', async (t) => {
  const { lookup } = await pluginLookup(t, { 'acme.shout': { source: SHOUT } })
  const pipeline = compileText(`${HEAD}stages:\n  - { id: shout, uses: 'plugin:acme.shout' }\n`, lookup)
  const [bad, good] = await Promise.all([exec(pipeline, event('bad', { boom: true })), exec(pipeline, event('good'))])
  t.match(bad, { type: 'failed', stage: 'shout', permanent: false, error: { code: 'OMNI_ERR_PLUGIN_FAILED', message: /plugin acme\.shout threw: boom for bad/ } })
  t.equal(good.type, 'done')
})

t.test('an additive plugin runs after its level, cannot change the event, and never blocks it', async (t) => {
  const { lookup } = await pluginLookup(t, {
    'acme.shout': { source: SHOUT },
    'lab.propose': { source: PROPOSE, additive: true, emit: ['omni.evt.alpha.>'] },
  })
  // the alpha stage is declared first, in the same level as the approved one
  const pipeline = compileText(`${HEAD}stages:\n  - { id: propose, uses: 'plugin:lab.propose' }\n  - { id: shout, uses: 'plugin:acme.shout' }\n`, lookup)
  t.same(pipeline.levels.map((l) => l.map((s) => s.id)), [['shout'], ['propose']], 'approved first, additive after')
  const ok = (await exec(pipeline, event('a'))) as Extract<EventOutcome, { type: 'done' }>
  t.equal(ok.type, 'done')
  t.equal(ok.event.data['text'], 'HELLO A', 'the additive data change is not applied')
  t.same(ok.emissions.map((e) => e.subject), ['omni.evt.alpha.proposed.v1'], 'its own message is kept')
  t.equal(ok.emissions[0]?.event.data['text'], 'HELLO A', 'it saw the approved result of its level')

  const failed = await exec(pipeline, event('b', { boom: true }))
  // the approved stage throws too for boom; use a pipeline where only the alpha one can fail
  t.equal(failed.type, 'failed')
  const alphaOnly = compileText(`${HEAD}stages:\n  - { id: propose, uses: 'plugin:lab.propose' }\n  - { id: note, uses: transform.enrich, with: { set: { seen: true } } }\n`, lookup)
  const survived = await exec(alphaOnly, event('c', { boom: true }))
  t.equal(survived.type, 'done', 'the alpha failure did not fail the event')
  t.match(survived.outcomes, [{ stage: 'note', type: 'ran' }, { stage: 'propose', type: 'failed', error: /alpha broke/ }], 'and is recorded as a stage outcome')
})

t.test('a plugin may only emit to the subjects its capabilities allow', async (t) => {
  const { lookup } = await pluginLookup(t, { 'acme.wrong': { source: WRONG_SUBJECT, emit: ['omni.evt.acme.>'] } })
  const pipeline = compileText(`${HEAD}stages:\n  - { id: w, uses: 'plugin:acme.wrong' }\n`, lookup)
  const outcome = await exec(pipeline, event('x'))
  t.match(outcome, { type: 'failed', error: { message: /emitted to "omni\.cmd\.bank\.transfer\.v1", which its approved capabilities do not allow \(omni\.evt\.acme\.>\)/ } })
})

t.test('a plugin runs only for the tenants in its audience', async (t) => {
  const { lookup, calls } = await pluginLookup(t, { 'acme.shout': { source: SHOUT, tenants: ['t1'] } })
  const pipeline = compileText(`${HEAD}stages:\n  - { id: shout, uses: 'plugin:acme.shout' }\n`, lookup)
  const other = (await exec(pipeline, event('o', {}, 't2'))) as Extract<EventOutcome, { type: 'done' }>
  t.equal(other.event.data['text'], 'hello o')
  t.match(other.outcomes, [{ stage: 'shout', type: 'skipped', reason: /tenant "t2" is not in plugin acme\.shout's audience/ }])
  t.same(calls['acme.shout'], [])
})

// issue 12 review (tenants x plugins): the audience limits whom a plugin serves, so what it
// emits stays in the tenant of the event it handles, on the approved path and as an additive stage
const OTHER_TENANT = `function stage(input) {
  const e = input.event
  return { type: 'continue', emit: [{ subject: 'omni.evt.acme.planted.v1', event: { ...e, id: e.id + '-planted', tenant: 'victim' } }] }
}`

t.test("a plugin cannot emit into another tenant than the event's", async (t) => {
  const { lookup } = await pluginLookup(t, {
    'acme.plant': { source: OTHER_TENANT, tenants: ['t1'], emit: ['omni.evt.acme.>'] },
    'lab.plant': { source: OTHER_TENANT, additive: true, emit: ['omni.evt.acme.>'] },
  })
  const approved = compileText(`${HEAD}stages:\n  - { id: plant, uses: 'plugin:acme.plant' }\n`, lookup)
  t.match(await exec(approved, event('x')), { type: 'failed', stage: 'plant', error: { code: 'OMNI_ERR_PLUGIN_FAILED', message: /emitted an event of tenant "victim" to "omni\.evt\.acme\.planted\.v1" while handling one of tenant "t1"/ } })
  const additive = compileText(`${HEAD}stages:\n  - { id: plant, uses: 'plugin:lab.plant' }\n`, lookup)
  const done = (await exec(additive, event('y'))) as Extract<EventOutcome, { type: 'done' }>
  t.equal(done.type, 'done', 'an additive stage never fails the event')
  t.same(done.emissions, [], 'and nothing of another tenant is emitted')
  t.match(done.outcomes, [{ stage: 'plant', type: 'failed', error: /tenant "victim"/ }])
})

t.test('a plugin stage takes no configuration', async (t) => {
  const { lookup } = await pluginLookup(t, { 'acme.shout': { source: SHOUT } })
  t.throws(() => compileText(`${HEAD}stages:\n  - { id: shout, uses: 'plugin:acme.shout', with: { x: 1 } }\n`, lookup), /stages\[0\]\.with|x/)
})

t.test('the in-process runtime checks results and load errors', async (t) => {
  const runtime = createInprocessRuntime()
  t.teardown(() => runtime.close())
  const load = (source: string) => runtime.load({ id: 'x.y', version: '1.0.0', dir: '.', main: 'stage.js', source, limits: LIMITS })
  await t.rejects(load('const notStage = 1'), { code: 'OMNI_ERR_PLUGIN_FAILED', message: /declares no function `stage\(input\)`/ })
  await t.rejects(load('function stage( {'), { code: 'OMNI_ERR_PLUGIN_FAILED', message: /failed to load/ })
  const bad = await load('function stage() { return { type: "explode" } }')
  const [out] = (await bad.run([{ event: event('q'), labels: {}, attempt: 1 }])) as PluginOutput[]
  t.match(out, { type: 'error', kind: 'invalid-result' })
  const none = await load('function stage() {}')
  t.same(await none.run([{ event: event('q'), labels: {}, attempt: 1 }]), [{ type: 'continue' }])
  await runtime.close()
  await t.rejects(none.run([]), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
  await t.rejects(load('function stage() {}'), { code: 'OMNI_ERR_SANDBOX_UNAVAILABLE' })
})

// issue 12 section 5: events a stage emits are declared in the catalog and checked against it,
// a plugin's as a built-in's; nor may a plugin widen an event's visibility past its type's
const UNDECLARED = `function stage(input) {
  const e = input.event
  return { type: 'continue', emit: [{ subject: 'omni.evt.acme.invented.v1', event: { ...e, id: e.id + '-x', type: 'acme.invented' } }] }
}`
const WIDENED = `function stage(input) {
  const e = input.event
  return { type: 'continue', emit: [{ subject: 'omni.evt.acme.planted.v1', event: { ...e, id: e.id + '-w', type: 'acme.planted', visibility: 'public' } }] }
}`

t.test('what a plugin emits is held to the catalog: a declared type, valid data, no wider visibility', async (t) => {
  const { lookup } = await pluginLookup(t, {
    'acme.invent': { source: UNDECLARED, emit: ['omni.evt.acme.>'] },
    'acme.widen': { source: WIDENED, emit: ['omni.evt.acme.>'] },
    'lab.widen': { source: WIDENED, additive: true, emit: ['omni.evt.acme.>'] },
  })
  const invent = compileText(`${HEAD}stages:\n  - { id: invent, uses: 'plugin:acme.invent' }\n`, lookup)
  t.match(await exec(invent, event('u')), { type: 'failed', stage: 'invent', permanent: true, error: { code: 'OMNI_ERR_EVENT_INVALID', message: /"acme\.invented".*which the catalog does not declare/ } })
  const widen = compileText(`${HEAD}stages:\n  - { id: widen, uses: 'plugin:acme.widen' }\n`, lookup)
  t.match(await exec(widen, event('v')), { type: 'failed', stage: 'widen', permanent: true, error: { message: /\$\.visibility: may be at most "local" for acme\.planted/ } })
  const additive = compileText(`${HEAD}stages:\n  - { id: widen, uses: 'plugin:lab.widen' }\n`, lookup)
  const done = (await exec(additive, event('w'))) as Extract<EventOutcome, { type: 'done' }>
  t.equal(done.type, 'done', 'an additive stage never fails the event')
  t.same(done.emissions, [], 'and its refused emission is not published')
  t.match(done.outcomes, [{ stage: 'widen', type: 'failed', error: /visibility/ }])
})
