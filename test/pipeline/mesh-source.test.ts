import t from 'tap'
import { deriveEvent } from '../../src/envelope/derive.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import { loadManifests } from '../../src/manifests/load.ts'
import { compilePipeline } from '../../src/pipeline/compile.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'

const compile = (sources: string) => compilePipeline(parseYamlManifest('p.yaml', `kind: Pipeline\nname: p\nsources: ${sources}\nstages: []\n`), testLookup)
const problems = (sources: string) => {
  const r = compile(sources)
  return r.type === 'error' ? r.problems.map((p) => `${p.where}: ${p.message}`) : []
}

t.test('a mesh source compiles to filters on received events', async (t) => {
  const ok = (sources: string) => {
    const r = compile(sources)
    if (r.type === 'error') throw new Error(JSON.stringify(r.problems))
    return r.pipeline.sources
  }
  t.same(ok('[{ mesh: cluster, types: [note.created] }]'), ['omni.rcv.cluster.*.*.*.note-created.*'])
  t.same(ok('[{ mesh: any, types: [note.created, note.deleted], nodes: [a1, a2] }]'), [
    'omni.rcv.*.*.a1.*.note-created.*',
    'omni.rcv.*.*.a1.*.note-deleted.*',
    'omni.rcv.*.*.a2.*.note-created.*',
    'omni.rcv.*.*.a2.*.note-deleted.*',
  ])
  t.same(ok("['omni.evt.test.note-created.v1', { mesh: public, types: [note.created] }]"), ['omni.evt.test.note-created.v1', 'omni.rcv.public.*.*.*.note-created.*'], 'beside subject sources')
})

t.test('bad mesh sources are refused with their place in the file', async (t) => {
  t.match(problems('[{ mesh: cluster, types: [] }]'), [/^p\.yaml:3:\d+: sources\[0\]\.types: .*1/], 'empty types')
  t.match(problems('[{ mesh: cluster, types: [note.created], peer: a1 }]'), [/^p\.yaml:3:\d+: sources\[0\]\.peer: unknown field/], "an unknown key")
  t.match(problems('[{ mesh: everywhere, types: [note.created] }]'), [/^p\.yaml:3:\d+: sources\[0\]/], 'an unknown visibility')
  t.match(problems("['omni.>']"), [/^p\.yaml:3:\d+: sources\[0\]: "omni\.>" would take in events received from other nodes/], 'a subject source over omni.rcv.>')
  t.same(problems("['omni.evt.>']"), [], 'omni.evt.> is fine: received events are not under it')
})

t.test('a mesh source naming a type the catalog lacks is refused by the loader', async (t) => {
  const dir = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG, 'pipelines/p.yaml': 'kind: Pipeline\nname: p\nsources:\n  - { mesh: cluster, types: [note.created, note.unheard-of] }\nstages: []\n' })
  const loaded = await loadManifests(dir, testLookup)
  t.match(loaded.problems.map((p) => `${p.where}: ${p.message}`), [/p\.yaml:4:\d+: sources\[0\]\.types\[1\]: event type "note\.unheard-of" is not in the catalog/])
})

t.test('what a pipeline derives from a received event is its own: no origin', async (t) => {
  const received: Envelope = { specversion: '1.0', id: 'e1', source: 's', type: 'note.created', time: '2026-12-07T00:00:00Z', data: {}, tenant: 't', visibility: 'cluster', idempotencykey: 'k', origin: 'a1' }
  t.equal(deriveEvent(received, { type: 'note.seen', data: {} }).origin, undefined)
})
