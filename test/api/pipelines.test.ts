import { access, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import Type from 'typebox'
import type { Cartridge } from '../../src/pipeline/stage.ts'
import type { CartridgeLookup } from '../../src/pipeline/stage-builder.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { bearer, NOTES_PIPELINE, startTestApi } from '../fixtures/api.ts'
import { eventually } from '../fixtures/fabric.ts'
import { TEST_SOURCE, testLookup } from '../fixtures/manifests.ts'
import { noteIds, pipelineConsumer, readAll, repeated, startProducer } from '../fixtures/runtime.ts'

t.setTimeout(120_000)

const SEEN_V1 = 'omni.evt.test.note-seen.v1'
const SEEN_V2 = 'omni.evt.test.note-seen.v2'

/** A valid pipeline on the test source; `output` picks where it publishes. */
const pipeline = (name: string, output: string) => `kind: Pipeline
name: ${name}
sources: [${TEST_SOURCE}]
stages:
  - { id: mark, uses: transform.enrich, with: { set: { by: ${name} } } }
outputs:
  - subject: ${output}
`

// line 5 is stage a, line 6 stage b; the unknown cartridge sits on line 7
const BROKEN = `kind: Pipeline
name: notes
sources: [${TEST_SOURCE}]
stages:
  - { id: a, uses: test.record, needs: [b] }
  - { id: b, uses: test.record, needs: [a] }
  - { id: c, uses: nope.missing }
outputs:
  - subject: ${SEEN_V1}
`

const yaml = { 'content-type': 'application/yaml' }
const exists = (path: string) => access(path).then(() => true, () => false)

t.test('list and get: stages, outputs, file and worker state; 404 and scopes', async (t) => {
  const { app } = await startTestApi(t)
  const list = await app.inject({ method: 'GET', url: '/v1/pipelines', headers: bearer('read') })
  t.equal(list.statusCode, 200, list.body)
  t.match(list.json(), {
    pipelines: [
      {
        name: 'notes',
        file: 'pipelines/p.yaml',
        sources: [TEST_SOURCE],
        stages: [{ id: 'record', uses: 'test.record', needs: [], level: 0, conditional: false, onError: 'retry' }],
        outputs: [{ subject: SEEN_V1, conditional: false, transforms: 0 }],
        errorPolicy: { maxDeliveries: 2, backoffMs: [20] },
        worker: { state: 'running', acked: 0 },
      },
    ],
  })
  const one = await app.inject({ method: 'GET', url: '/v1/pipelines/notes', headers: bearer('read') })
  t.equal(one.statusCode, 200)
  t.match(one.json(), { name: 'notes', yaml: NOTES_PIPELINE, yamlMatchesRunning: true })

  const missing = await app.inject({ method: 'GET', url: '/v1/pipelines/nope', headers: bearer('read') })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'OMNI_ERR_NOT_FOUND')
  const badName = await app.inject({ method: 'GET', url: '/v1/pipelines/Not..A.Name', headers: bearer('read') })
  t.equal(badName.statusCode, 400)
  t.match(badName.json().error.problems, [{ where: 'params.name' }])
  const anonymous = await app.inject({ method: 'GET', url: '/v1/pipelines' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().error.code, 'OMNI_ERR_UNAUTHORIZED')
  const ingestOnly = await app.inject({ method: 'GET', url: '/v1/pipelines', headers: bearer('ingest') })
  t.equal(ingestOnly.statusCode, 403)
})

t.test('validate: the checks of omni validate, located in the submitted document, nothing applied', async (t) => {
  const { app, dir, fabric } = await startTestApi(t)
  const validate = (payload: string, headers: Record<string, string> = yaml) =>
    app.inject({ method: 'POST', url: '/v1/pipelines/validate', headers: { ...bearer('read'), ...headers }, payload })

  const ok = await validate(pipeline('notes', SEEN_V2))
  t.equal(ok.statusCode, 200, ok.body)
  t.same(ok.json(), { ok: true, problems: [] }, 'replacing the loaded pipeline of the same name is no duplicate')
  const json = await validate(JSON.stringify({ kind: 'Pipeline', name: 'other', sources: [TEST_SOURCE], stages: [{ id: 'r', uses: 'test.record' }] }), { 'content-type': 'application/json' })
  t.same(json.json(), { ok: true, problems: [] }, 'JSON is accepted too')

  const broken = (await validate(BROKEN)).json()
  t.equal(broken.ok, false)
  t.match(broken.problems, [
    { where: 'body:7:20', message: 'stages[2].uses: unknown cartridge "nope.missing" (run `omni catalog` to list them)' },
    { where: /^body:5:\d+$/, message: 'stages[0].needs: cycle between stages: a → b → a' },
  ])
  t.equal(broken.problems.length, 2)

  const syntax = (await validate('kind: Pipeline\nname: [unclosed\n')).json()
  t.equal(syntax.ok, false)
  t.match(syntax.problems, [{ where: /^body:\d+:\d+$/ }])
  const badJson = await validate('{"kind": "Pipeline",\n  name: 1}', { 'content-type': 'application/json' })
  t.equal(badJson.json().ok, false)
  t.match(badJson.json().problems, [{ where: 'body:2:3' }], 'JSON syntax errors carry line:col too')

  const notPipeline = (await validate('kind: EventCatalog\nproducer: x\nevents: []\n')).json()
  t.match(notPipeline, { ok: false, problems: [{ where: 'body:1:7', message: 'kind: must be "Pipeline"; this route takes pipelines only' }] })

  // a file on disk (not loaded yet: watch is off) that declares the name makes it a duplicate
  await writeFile(join(dir, 'pipelines/elsewhere.yaml'), pipeline('extra', SEEN_V2))
  const duplicate = (await validate(pipeline('extra', SEEN_V2))).json()
  t.match(duplicate, { ok: false, problems: [{ where: 'body:2:7', message: /^name: pipeline name "extra" is already used by .*pipelines\/elsewhere\.yaml$/ }] })

  const text = await validate('kind: Pipeline', { 'content-type': 'text/plain' })
  t.equal(text.statusCode, 415)
  t.equal(text.json().error.code, 'OMNI_ERR_UNSUPPORTED_MEDIA_TYPE')
  t.equal(await readFile(join(dir, 'pipelines/p.yaml'), 'utf8'), NOTES_PIPELINE, 'validation wrote nothing')
  t.same(fabric.pipelines().map((p) => p.name), ['notes'], 'and applied nothing')
})

t.test('apply: scopes, problems with positions, the name must match; nothing written on refusal', async (t) => {
  const { app, dir } = await startTestApi(t)
  const file = join(dir, 'pipelines/p.yaml')
  const put = (name: string, payload: string, headers: Record<string, string> = bearer('admin')) =>
    app.inject({ method: 'PUT', url: `/v1/pipelines/${name}`, headers: { ...yaml, ...headers }, payload })

  t.equal((await put('notes', pipeline('notes', SEEN_V2), {})).statusCode, 401)
  const forbidden = await put('notes', pipeline('notes', SEEN_V2), bearer('read'))
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().error.code, 'OMNI_ERR_FORBIDDEN')

  const invalid = await put('notes', BROKEN)
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().error.code, 'OMNI_ERR_MANIFEST')
  t.same(invalid.json().error.problems.map((p: { where: string }) => p.where.split(':')[1]), ['7', '5'], 'every problem, by line')

  const syntax = await put('notes', 'kind: Pipeline\n  name: x\n bad')
  t.equal(syntax.statusCode, 400)
  t.equal(syntax.json().error.code, 'OMNI_ERR_YAML')
  t.match(syntax.json().error.problems, [{ where: /^body:\d+:\d+$/ }])

  const mismatch = await put('notes', pipeline('other', SEEN_V2))
  t.equal(mismatch.statusCode, 400)
  t.match(mismatch.json().error.problems, [{ where: 'body:2:7', message: 'name: is "other" but the URL names "notes"; they must match' }])
  t.equal(await readFile(file, 'utf8'), NOTES_PIPELINE, 'a refused pipeline is never written')

  // a file at the new pipeline's path that holds something else is not overwritten
  await writeFile(join(dir, 'pipelines/taken.yaml'), pipeline('squatter', SEEN_V2))
  const taken = await put('taken', pipeline('taken', SEEN_V2))
  t.equal(taken.statusCode, 409)
  t.match(taken.json().error, { code: 'OMNI_ERR_CONFLICT', message: 'pipelines/taken.yaml holds pipeline squatter, not only pipeline "taken"; edit that file instead' })
})

t.test('apply replaces a pipeline without a restart, losing and repeating no event', async (t) => {
  const { app, fabric, dir } = await startTestApi(t)
  const publish = (noteId: string) => publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId } })
  const TOTAL = 1000
  const producer = startProducer(publish, { count: TOTAL, prefix: 'n-', perTick: 5, tickMs: 10 })
  t.ok(await eventually(() => producer.attempted() >= TOTAL / 3), 'a third was published before the apply')

  const applied = await app.inject({ method: 'PUT', url: '/v1/pipelines/notes', headers: { ...bearer('admin'), ...yaml }, payload: pipeline('notes', SEEN_V2) })
  const firstAfter = producer.attempted()
  t.equal(applied.statusCode, 200, applied.body)
  t.same(applied.json(), { file: 'pipelines/p.yaml', added: [], changed: ['notes'], removed: [] })
  t.ok(firstAfter < TOTAL, `publishing went on after the apply (${firstAfter} of ${TOTAL} started)`)
  t.equal(await readFile(join(dir, 'pipelines/p.yaml'), 'utf8'), pipeline('notes', SEEN_V2), 'written where it was loaded from')
  await producer.done
  t.equal(producer.acked.size, TOTAL, 'every event was acknowledged by the stream')

  t.ok(
    await eventually(async () => {
      const info = await pipelineConsumer(fabric.jsm, 'notes')
      return info.num_pending === 0 && info.num_ack_pending === 0
    }, 30_000),
    'the consumer worked through everything',
  )
  const v1 = noteIds(await readAll(fabric.js, fabric.jsm, SEEN_V1))
  const v2 = noteIds(await readAll(fabric.js, fabric.jsm, SEEN_V2))
  t.ok(v1.length > 0 && v2.length > 0, `both versions ran: ${v1.length} × v1, ${v2.length} × v2`)
  t.same(repeated([...v1, ...v2]), {}, 'no event was processed twice')
  t.same(new Set([...v1, ...v2]), producer.acked, 'every event was processed')
  const late = [...producer.acked].filter((id) => Number(id.slice(2)) >= firstAfter)
  t.ok(late.length > 0 && late.every((id) => v2.includes(id)), `the ${late.length} events published after the apply went through the new version`)
  const detail = (await app.inject({ method: 'GET', url: '/v1/pipelines/notes', headers: bearer('read') })).json()
  t.match(detail, { outputs: [{ subject: SEEN_V2 }], stages: [{ id: 'mark', uses: 'transform.enrich' }], yamlMatchesRunning: true })
})

t.test('a new pipeline goes to pipelines/<name>.yaml; delete removes it; 404s after', async (t) => {
  const { app, fabric, dir } = await startTestApi(t)
  const created = await app.inject({ method: 'PUT', url: '/v1/pipelines/audit', headers: { ...bearer('admin'), 'content-type': 'text/yaml' }, payload: pipeline('audit', SEEN_V2) })
  t.equal(created.statusCode, 200, created.body)
  t.same(created.json(), { file: 'pipelines/audit.yaml', added: ['audit'], changed: [], removed: [] })
  t.equal(await readFile(join(dir, 'pipelines/audit.yaml'), 'utf8'), pipeline('audit', SEEN_V2))
  const names = (await app.inject({ method: 'GET', url: '/v1/pipelines', headers: bearer('read') })).json().pipelines.map((p: { name: string }) => p.name)
  t.same(names.sort(), ['audit', 'notes'])
  await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: 'a1' } })
  t.ok(await eventually(async () => noteIds(await readAll(fabric.js, fabric.jsm, SEEN_V2)).includes('a1')), 'the new pipeline runs')

  t.equal((await app.inject({ method: 'DELETE', url: '/v1/pipelines/audit', headers: bearer('read') })).statusCode, 403)
  const removed = await app.inject({ method: 'DELETE', url: '/v1/pipelines/audit', headers: bearer('admin') })
  t.equal(removed.statusCode, 200, removed.body)
  t.same(removed.json(), { file: 'pipelines/audit.yaml', added: [], changed: [], removed: ['audit'] })
  t.notOk(await exists(join(dir, 'pipelines/audit.yaml')), 'its file is gone')
  t.same(fabric.workers().map((w) => w.name), ['notes'], 'its worker stopped')
  const again = await app.inject({ method: 'DELETE', url: '/v1/pipelines/audit', headers: bearer('admin') })
  t.equal(again.statusCode, 404)
  t.equal(again.json().error.code, 'OMNI_ERR_NOT_FOUND')
  t.equal((await app.inject({ method: 'GET', url: '/v1/pipelines/audit', headers: bearer('read') })).statusCode, 404)
})

t.test('delete refuses a file that holds more than the pipeline', async (t) => {
  const { app, fabric, dir } = await startTestApi(t)
  const file = join(dir, 'pipelines/p.yaml')
  const twoDocs = `${NOTES_PIPELINE}---\n${pipeline('second', SEEN_V2)}`
  await writeFile(file, twoDocs)
  const refused = await app.inject({ method: 'DELETE', url: '/v1/pipelines/notes', headers: bearer('admin') })
  t.equal(refused.statusCode, 409)
  t.match(refused.json().error, { code: 'OMNI_ERR_CONFLICT', message: 'pipelines/p.yaml holds 2 documents, not only pipeline "notes"; edit that file instead' })
  t.equal(await readFile(file, 'utf8'), twoDocs, 'the file is untouched')
  t.same(fabric.pipelines().map((p) => p.name), ['notes'], 'the pipeline still runs')
})

t.test('a symlinked pipelines/ folder that leads outside the manifests folder is never written to', async (t) => {
  const { app, fabric, dir } = await startTestApi(t)
  const outside = await mkdtemp(join(tmpdir(), 'omni-outside-'))
  t.teardown(() => rm(outside, { recursive: true, force: true }))
  // the folder moves out and a link takes its place: every path below it still reads as inside
  await rename(join(dir, 'pipelines'), join(outside, 'pipelines'))
  await symlink(join(outside, 'pipelines'), join(dir, 'pipelines'))
  const put = (name: string, body: string) => app.inject({ method: 'PUT', url: `/v1/pipelines/${name}`, headers: { ...bearer('admin'), ...yaml }, payload: body })

  for (const [what, r] of [
    ['a new pipeline', await put('audit', pipeline('audit', SEEN_V2))],
    ['a running one', await put('notes', pipeline('notes', SEEN_V2))],
    ['a delete', await app.inject({ method: 'DELETE', url: '/v1/pipelines/notes', headers: bearer('admin') })],
  ] as const) {
    t.equal(r.statusCode, 409, `${what}: ${r.body}`)
    t.match(r.json().error, { code: 'OMNI_ERR_CONFLICT', message: /pipelines leads outside the manifests folder/ }, what)
  }
  const validated = await app.inject({ method: 'POST', url: '/v1/pipelines/validate', headers: { ...bearer('read'), ...yaml }, payload: pipeline('audit', SEEN_V2) })
  t.match(validated.json(), { ok: false, problems: [{ message: /leads outside the manifests folder/ }] }, 'validate says so too')
  t.same(await readdir(join(outside, 'pipelines')), ['p.yaml'], 'nothing was written outside')
  t.equal(await readFile(join(outside, 'pipelines/p.yaml'), 'utf8'), NOTES_PIPELINE)
  t.same(fabric.pipelines().map((p) => p.name), ['notes'], 'the running pipelines are unchanged')
})

t.test('an encoded traversal in the name is refused before any file is touched', async (t) => {
  const { app, fabric, dir } = await startTestApi(t)
  const before = { manifests: (await readdir(dir)).sort(), pipelines: await readdir(join(dir, 'pipelines')) }
  for (const name of ['%2e%2e%2fx', '%2e%2e', '..%2F..%2Fx', '%2e%2e%2fpipelines%2fp']) {
    const put = await app.inject({ method: 'PUT', url: `/v1/pipelines/${name}`, headers: { ...bearer('admin'), ...yaml }, payload: pipeline('x', SEEN_V2) })
    t.ok([400, 404].includes(put.statusCode), `PUT ${name}: ${put.statusCode} ${put.body}`)
    const del = await app.inject({ method: 'DELETE', url: `/v1/pipelines/${name}`, headers: bearer('admin') })
    t.ok([400, 404].includes(del.statusCode), `DELETE ${name}: ${del.statusCode} ${del.body}`)
  }
  t.same({ manifests: (await readdir(dir)).sort(), pipelines: await readdir(join(dir, 'pipelines')) }, before, 'no file was added or removed')
  // the shared temp folder holds other tests' files, so only the names a traversal would write are checked there
  for (const file of ['x.yaml', 'x', 'pipelines']) t.notOk(await exists(join(dirname(dir), file)), `nothing at ../${file}`)
  t.equal(await readFile(join(dir, 'pipelines/p.yaml'), 'utf8'), NOTES_PIPELINE)
  t.same(fabric.pipelines().map((p) => p.name), ['notes'])
})

/**
 * A stage type that is usable once: the API's check passes, the reload right after is refused.
 * It stands for a plugin revoked between the check and the reload (the reload rescans plugins).
 */
function oneShot(): { lookup: CartridgeLookup; rearm(): void } {
  let creations = 0
  const oneShot: Cartridge = {
    id: 'test.one_shot',
    title: 'One shot (test only)',
    description: 'Can be created once.',
    phase: 'meta',
    configSchema: Type.Object({}),
    create: () => {
      if (++creations > 1) throw new Error('test.one_shot was revoked')
      return () => ({ type: 'continue' })
    },
  }
  return { lookup: (id) => (id === oneShot.id ? oneShot : testLookup(id)), rearm: () => void (creations = 0) }
}

const ONE_SHOT = (name: string) => pipeline(name, SEEN_V2).replace(`uses: transform.enrich, with: { set: { by: ${name} } }`, 'uses: test.one_shot')

t.test('a reload the fabric refuses puts the previous file back', async (t) => {
  const once = oneShot()
  const { app, fabric, dir } = await startTestApi(t, { fabric: { lookup: once.lookup } })
  const file = join(dir, 'pipelines/p.yaml')
  const refused = await app.inject({ method: 'PUT', url: '/v1/pipelines/notes', headers: { ...bearer('admin'), ...yaml }, payload: ONE_SHOT('notes') })
  t.equal(refused.statusCode, 400, refused.body)
  t.match(refused.json().error, { code: 'OMNI_ERR_MANIFEST', message: /file is back as it was/, problems: [{ where: /pipelines\/p\.yaml:5:\d+$/, message: /test\.one_shot was revoked/ }] })
  t.equal(await readFile(file, 'utf8'), NOTES_PIPELINE, 'the previous content is restored')
  t.same(fabric.pipelines()[0]?.levels.flat().map((s) => s.uses), ['test.record'], 'the running pipeline is unchanged')

  once.rearm()
  const refusedNew = await app.inject({ method: 'PUT', url: '/v1/pipelines/fresh', headers: { ...bearer('admin'), ...yaml }, payload: ONE_SHOT('fresh') })
  t.equal(refusedNew.statusCode, 400, refusedNew.body)
  t.match(refusedNew.json().error, { message: /file is back as it was/, problems: [{ where: /pipelines\/fresh\.yaml:5:\d+$/ }] }, 'refused by the reload, after the file was written')
  t.notOk(await exists(join(dir, 'pipelines/fresh.yaml')), 'a new file is removed again')

  // a fabric that is shutting down cannot reload: 503, and the file is back
  await fabric.close()
  const closed = await app.inject({ method: 'PUT', url: '/v1/pipelines/notes', headers: { ...bearer('admin'), ...yaml }, payload: pipeline('notes', SEEN_V2) })
  t.equal(closed.statusCode, 503)
  t.equal(closed.json().error.code, 'OMNI_ERR_UNAVAILABLE')
  t.equal(await readFile(file, 'utf8'), NOTES_PIPELINE)
})
