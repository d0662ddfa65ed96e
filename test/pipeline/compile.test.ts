import t from 'tap'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { compilePipeline } from '../../src/pipeline/compile.ts'
import { compileText, testLookup } from '../fixtures/manifests.ts'

function problems(text: string) {
  const r = compilePipeline(parseYamlManifest('p.yaml', text), testLookup)
  return r.type === 'error' ? r.problems : []
}

const HEAD = `kind: Pipeline
name: p
sources: [omni.evt.test.note-created.v1]
`

t.test('a valid pipeline compiles into levels with defaults', async (t) => {
  const p = compileText(`${HEAD}stages:
  - id: trust
    uses: guard.trust
    with: { rules: [{ when: 'data.noteId == "x"', outcome: reject }] }
  - id: a
    uses: transform.enrich
    needs: [trust]
    with: { set: { x: 1 } }
  - id: b
    uses: transform.classify
    needs: [trust]
    when: 'has(data.text)'
    timeout: 250ms
    onError: skip
    with: { rules: [{ when: 'true', class: c }] }
outputs:
  - subject: omni.evt.test.note-seen.v1
`)
  t.same(p.levels.map((l) => l.map((s) => s.id)), [['trust'], ['a', 'b']])
  t.equal(p.maxDeliveries, 5)
  t.same(p.backoffMs, [1000, 5000, 30000])
  const b = p.levels[1]?.[1]
  t.equal(b?.timeoutMs, 250)
  t.equal(b?.onError, 'skip')
  t.ok(b?.when)
})

t.test('schema problems name the field and its line and column', async (t) => {
  const ps = problems(`kind: Pipeline
name: Bad Name
sources: []
stages:
  - id: a
    uses: transform.enrich
    colour: red
`)
  t.match(ps, [
    { where: 'p.yaml:2:7', message: /^name: / },
    { where: 'p.yaml:3:10', message: /^sources: / },
    { where: 'p.yaml:7:13', message: /^stages\[0\]\.colour: unknown field/ },
  ])
})

t.test('unknown cartridge', async (t) => {
  t.match(problems(`${HEAD}stages:
  - id: a
    uses: guard.nope
`), [{ where: 'p.yaml:6:11', message: /stages\[0\]\.uses: unknown cartridge "guard.nope"/ }])
})

t.test('bad `with` is checked against the cartridge schema', async (t) => {
  t.match(problems(`${HEAD}stages:
  - id: a
    uses: guard.rate_limit
    with:
      rate: lots
      per: 1m
`), [{ where: 'p.yaml:8:13', message: /stages\[0\]\.with\.rate: / }])
})

t.test('bad CEL inside `with` is located inside `with`', async (t) => {
  t.match(problems(`${HEAD}stages:
  - id: a
    uses: transform.classify
    with:
      rules:
        - { when: 'true', class: a }
        - { when: 'data.x ==', class: b }
`), [{ where: 'p.yaml:10:19', message: /stages\[0\]\.with\.rules\[1\]\.when: invalid CEL expression/ }])
})

t.test('duplicate stage ids', async (t) => {
  t.match(problems(`${HEAD}stages:
  - id: a
    uses: test.record
  - id: a
    uses: test.record
`), [{ where: 'p.yaml:7:9', message: /duplicate stage id "a" \(first declared at stages\[0\]\)/ }])
})

t.test('a missing need', async (t) => {
  t.match(problems(`${HEAD}stages:
  - id: a
    uses: test.record
    needs: [ghost]
`), [{ where: 'p.yaml:7:13', message: /needs "ghost", which is not a stage/ }])
})

t.test('a cycle names the stages in it', async (t) => {
  const ps = problems(`${HEAD}stages:
  - id: a
    uses: test.record
  - id: b
    uses: test.record
    needs: [a, d]
  - id: c
    uses: test.record
    needs: [b]
  - id: d
    uses: test.record
    needs: [c]
`)
  t.equal(ps.length, 1)
  t.match(ps[0]?.message, /cycle between stages: /)
  for (const id of ['b', 'c', 'd']) t.match(ps[0]?.message, new RegExp(`\\b${id}\\b`))
  t.notMatch(ps[0]?.message, / a /)
  t.match(ps[0]?.where, /^p\.yaml:\d+:\d+$/)
})

t.test('a bad CEL `when`', async (t) => {
  t.match(problems(`${HEAD}stages:
  - id: a
    uses: test.record
    when: 'data.kind == "text" &&'
  - id: b
    uses: test.record
    when: 'nope.x == 1'
`), [
    { where: 'p.yaml:7:11', message: /stages\[0\]\.when: invalid CEL expression/ },
    { where: 'p.yaml:10:11', message: /stages\[1\]\.when: invalid CEL expression: .*nope/ },
  ])
})

t.test('conflicting outputs', async (t) => {
  const ps = problems(`${HEAD}stages: []
outputs:
  - subject: omni.evt.test.seen.v1
  - subject: omni.evt.test.seen.v1
  - subject: omni.evt.test.note-created.v1
  - fanout: catalog
  - fanout: catalog
  - subject: omni.bad
  - {}
  - subject: omni.evt.test.x.v1
    transform: [{ uses: route.command, with: { subject: omni.cmd.a.b.v1, type: a.b } }]
`)
  t.match(ps, [
    { where: 'p.yaml:7:14', message: /outputs\[1\]\.subject: conflicting outputs: outputs\[0\] already publishes to/ },
    { where: 'p.yaml:8:14', message: /is also a source .* which would loop/ },
    { where: 'p.yaml:10:13', message: /outputs\[4\]\.fanout: conflicting outputs: outputs\[3\] already fans out/ },
    { where: 'p.yaml:11:14', message: /does not follow omni\.\{evt\|cmd\}/ },
    { where: 'p.yaml:12:5', message: /exactly one of `subject` or `fanout: catalog`/ },
    { where: 'p.yaml:14:25', message: /cannot transform an output; use a transform\.\* cartridge/ },
  ])
})

t.test('outputs sharing a subject are refused even under distinct conditions: they would share a message id', async (t) => {
  t.match(problems(`${HEAD}stages: []
outputs:
  - { subject: omni.evt.test.seen.v1, when: 'data.noteId == "a"' }
  - { subject: omni.evt.test.seen.v1, when: 'true' }
`), [{ where: 'p.yaml:7:16', message: /outputs\[1\]\.subject: conflicting outputs: outputs\[0\] already publishes to "omni\.evt\.test\.seen\.v1"; both would have the message id out:<key>@p@omni\.evt\.test\.seen\.v1/ }])
})
