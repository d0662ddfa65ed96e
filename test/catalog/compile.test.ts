import t from 'tap'
import { getCartridge } from '../../src/cartridges/mod.ts'
import { compileCatalogManifest } from '../../src/catalog/compile.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'

const compile = (events: string) => compileCatalogManifest(parseYamlManifest('c.yaml', `kind: EventCatalog\nproducer: p\nevents:\n${events}`), getCartridge)

t.test('catalog problems are located and the bad entry is left out', async (t) => {
  const r = compile(`  - type: a.b
    version: 1
    idempotency: [data.x, color]
    schema: { properties: { x: { pattern: "([" } } }
    fanout:
      - subject: omni.evt.p.a-b.v1
      - subject: omni.evt.p.a-b.v1
  - type: a.ok
    version: 2
    idempotency: [data.id]
`)
  t.match(r.problems, [
    { where: 'c.yaml:6:27', message: /events\[0\]\.idempotency\[1\]: "color" is neither data\.<field> nor one of/ },
    { where: 'c.yaml:10:18', message: /events\[0\]\.fanout\[1\]\.subject: conflicting fan-out/ },
  ])
  t.same(r.entries.map((e) => e.subject), ['omni.evt.p.a-ok.v2'])
})

t.test('a data schema that does not compile is reported at `schema`', async (t) => {
  const r = compile(`  - type: a.b
    version: 1
    idempotency: [data.x]
    schema: { properties: { x: { pattern: "([" } } }
`)
  t.match(r.problems, [{ where: 'c.yaml:7:13', message: /events\[0\]\.schema: not a usable JSON Schema: .*regular expression/ }])
  t.same(r.entries, [])
})
