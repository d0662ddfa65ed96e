import t, { type Test } from 'tap'
import { loadManifests } from '../../src/manifests/load.ts'
import { pluginCartridge } from '../../src/pipeline/plugin-stage.ts'
import type { Cartridge } from '../../src/pipeline/stage.ts'
import type { CartridgeLookup } from '../../src/pipeline/stage-builder.ts'
import { testLookup, writeManifests } from '../fixtures/manifests.ts'

// Validation refuses what would silently drop or multiply messages at run time: catalog fan-out
// of one type in two pipelines, an output sharing a message id with a fan-out target, and loops
// through outputs, fan-out targets and stage emissions (commands, quarantines).

const CATALOG = `kind: EventCatalog
producer: test
events:
  - type: note.created
    version: 1
    required: [noteId]
    schema: { properties: { noteId: { type: string } } }
    idempotency: [data.noteId]
    fanout:
      - subject: omni.evt.test.note-copied.v1
`
const pipeline = (name: string, sources: string, rest: string) => `kind: Pipeline
name: ${name}
sources: [${sources}]
${rest}`

async function problemsOf(t: Test, files: Record<string, string>, lookup: CartridgeLookup = testLookup) {
  const dir = await writeManifests(t, { 'catalog.yaml': CATALOG, ...files })
  const loaded = await loadManifests(dir, lookup)
  // locations relative to the temp folder, as the user would read them in their own
  return loaded.problems.map((p) => ({ where: p.where.slice(p.where.lastIndexOf('/') + 1), message: p.message }))
}

t.test('catalog fan-out of one event type happens in one pipeline only', async (t) => {
  const fanout = 'stages: []\noutputs:\n  - fanout: catalog\n'
  t.match(await problemsOf(t, { 'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', fanout), 'b.yaml': pipeline('b', 'omni.evt.test.>', fanout) }), [
    { where: 'b.yaml:6:13', message: /outputs\[0\]\.fanout: event type "note\.created" is already fanned out by pipeline "a" \(.*a\.yaml:6:13\); catalog fan-out happens once per event type/ },
  ])
  t.same(await problemsOf(t, { 'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', fanout), 'b.yaml': pipeline('b', 'omni.evt.test.note-created.v1', 'stages: []\noutputs:\n  - subject: omni.evt.test.other.v1\n') }), [], 'one fan-out and another output are fine')
})

t.test('an output and a fan-out target that would share a message id are refused', async (t) => {
  t.match(await problemsOf(t, { 'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', 'stages: []\noutputs:\n  - fanout: catalog\n  - subject: omni.evt.test.note-copied.v1\n') }), [
    { where: 'a.yaml:7:14', message: /outputs\[1\]\.subject: "omni\.evt\.test\.note-copied\.v1" is also a fan-out target of note\.created \(.*\), which outputs\[0\] publishes: both would get the message id out:<key>@a@omni\.evt\.test\.note-copied\.v1/ },
  ])
})

t.test('loops through fan-out targets, other pipelines and stage emissions are refused', async (t) => {
  // a fans note.created out to note-copied; b hands note-copied back to note-created
  t.match(await problemsOf(t, {
    'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', 'stages: []\noutputs:\n  - fanout: catalog\n'),
    'b.yaml': pipeline('b', 'omni.evt.test.note-copied.v1', 'stages: []\noutputs:\n  - subject: omni.evt.test.note-created.v1\n'),
  }), [{ where: 'b.yaml:6:14', message: /outputs\[0\]\.subject: loop: pipeline "a" publishes omni\.evt\.test\.note-copied\.v1 \(the note\.created fan-out target omni\.evt\.test\.note-copied\.v1\), which pipeline "b" publishes omni\.evt\.test\.note-created\.v1 \(outputs\[0\]\), which pipeline "a" consumes again/ }])
  // a quarantine onto the pipeline's own source
  t.match(await problemsOf(t, {
    'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', `stages:
  - id: trust
    uses: guard.trust
    with: { rules: [{ when: 'true', outcome: quarantine }], quarantineSubject: omni.evt.test.note-created.v1 }
outputs: []
`),
  }), [{ where: 'a.yaml:6:11', message: /stages\[0\]\.uses: loop: pipeline "a" publishes omni\.evt\.test\.note-created\.v1 \(stage trust \(guard\.trust\)\), which pipeline "a" consumes again/ }])
  // a command onto a subject another pipeline consumes, which answers on the first one's source
  t.match(await problemsOf(t, {
    'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', 'stages:\n  - { id: ask, uses: route.command, with: { subject: omni.cmd.test.ask.v1, type: note.asked } }\noutputs: []\n'),
    'b.yaml': pipeline('b', 'omni.cmd.test.ask.v1', 'stages: []\noutputs:\n  - subject: omni.evt.test.note-created.v1\n'),
  }), [{ where: 'b.yaml:6:14', message: /loop: pipeline "a" publishes omni\.cmd\.test\.ask\.v1 \(stage ask \(route\.command\)\), which pipeline "b" publishes omni\.evt\.test\.note-created\.v1/ }])
  t.same(await problemsOf(t, {
    'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', 'stages: []\noutputs:\n  - subject: omni.evt.test.seen.v1\n'),
    'b.yaml': pipeline('b', 'omni.evt.test.seen.v1', 'stages: []\noutputs:\n  - subject: omni.evt.test.done.v1\n'),
  }), [], 'a chain without a way back is fine')
})

t.test('a loop through what a plugin may emit is refused: its approved emit subjects are followed', async (t) => {
  const echo = pluginCartridge({
    plugin: 'acme.echo',
    description: 'emits onto omni.evt.test.>',
    additive: false,
    tenants: ['*'],
    emit: ['omni.evt.test.>'],
    instance: () => Promise.reject(new Error('never run by validation')),
  }) as Cartridge
  const lookup: CartridgeLookup = (id) => (id === echo.id ? echo : testLookup(id))
  t.match(await problemsOf(t, {
    'a.yaml': pipeline('a', 'omni.evt.test.note-created.v1', "stages:\n  - { id: echo, uses: 'plugin:acme.echo' }\noutputs: []\n"),
  }, lookup), [{ where: 'a.yaml:5:23', message: /stages\[0\]\.uses: loop: pipeline "a" publishes omni\.evt\.test\.> \(stage echo \(plugin:acme\.echo\)\), which pipeline "a" consumes again/ }])
})
