import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { CHART, HELM_VERSIONS, helm, helmHome, helmMissing } from '../fixtures/helm.ts'

// Invalid values files are refused, by helm 3 and helm 4 alike, with the message each file
// expects in its `# expect: /regex/` line: values.schema.json for keys and types, the chart's
// templates for rules across keys. A file that rendered would be a hole in the schema.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const INVALID = join(import.meta.dirname, 'values', 'invalid')

t.test('invalid values are refused with a message that names the problem', { skip: missing }, async (t) => {
  const env = await helmHome(t)
  const files = (await readdir(INVALID)).filter((f) => f.endsWith('.yaml')).sort()
  t.ok(files.length >= 10, `${files.length} invalid values files`)
  for (const f of files) {
    const text = await readFile(join(INVALID, f), 'utf8')
    const m = /^# expect: \/(.+)\/$/m.exec(text)
    if (!m?.[1]) {
      t.fail(`${f} has no "# expect: /regex/" line`)
      continue
    }
    const expected = new RegExp(m[1], 'i')
    for (const v of HELM_VERSIONS) {
      const r = await helm(v, ['template', 'omni', CHART, '-f', join(INVALID, f)], env)
      t.notOk(r.ok, `helm ${v} refuses ${f}`)
      t.match(r.stderr, expected, `helm ${v}: ${f} says why`)
    }
  }
})

t.test('the defaults and a scaled-out set are accepted (the schema refuses only what it should)', { skip: missing }, async (t) => {
  const env = await helmHome(t)
  for (const v of HELM_VERSIONS) {
    t.ok((await helm(v, ['template', 'omni', CHART], env)).ok, `helm ${v}: defaults`)
    const scaled = await helm(v, ['template', 'omni', CHART, '--set', 'platform.replicas=4', '--set', 'clickhouse.url=http://ch:8123', '--set', 'clickhouse.existingSecret=ch'], env)
    t.ok(scaled.ok, `helm ${v}: four platform pods with a ClickHouse server`, { stderr: scaled.stderr })
    const off = await helm(v, ['template', 'omni', CHART, '--set', 'platform.replicas=2', '--set', 'clickhouse.enabled=false'], env)
    t.ok(off.ok, `helm ${v}: two platform pods without ClickHouse`, { stderr: off.stderr })
  }
})

t.test('an existing NATS with its login Secret, a ClickHouse password, and a hub on another leaf-node port are accepted', { skip: missing }, async (t) => {
  const env = await helmHome(t)
  for (const v of HELM_VERSIONS) {
    const nats = await helm(v, ['template', 'omni', CHART, '--set', 'nats.url=nats://nats.nats.svc:4222', '--set', 'nats.existingSecret=omni-nats'], env)
    t.ok(nats.ok, `helm ${v}: nats.url with nats.existingSecret`, { stderr: nats.stderr })
    t.notMatch(nats.stdout, /name: omni-omni-fabric-nats\n/, `helm ${v}: no NATS login Secret of the chart's own with nats.url`)
    const ch = await helm(v, ['template', 'omni', CHART, '--set', 'clickhouse.url=http://ch:8123', '--set', 'clickhouse.password=s3cret-for-tests'], env)
    t.ok(ch.ok, `helm ${v}: clickhouse.url with clickhouse.password`, { stderr: ch.stderr })
    const hub = await helm(v, ['template', 'omni', CHART, '--set', 'mesh.enabled=true', '--set', 'mesh.node=hub-a', '--set', 'mesh.cluster=east', '--set', 'mesh.role=hub', '--set', 'mesh.leafnodePort=7500'], env)
    t.ok(hub.ok, `helm ${v}: a hub on leaf-node port 7500`, { stderr: hub.stderr })
    const extra = await helm(v, ['template', 'omni', CHART, '--set', 'platform.extraEnv[0].name=TZ', '--set', 'platform.extraEnv[0].value=UTC'], env)
    t.ok(extra.ok, `helm ${v}: a plain extra variable`, { stderr: extra.stderr })
  }
})
