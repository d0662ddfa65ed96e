import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { REPO, helmHome, helmMissing, render, valueSets, type K8sObject } from '../fixtures/helm.ts'

// Every object every value set renders, checked against the Kubernetes API schemas (kubernetes-models
// 5.1, Kubernetes 1.34; ServiceMonitor: @kubernetes-models/prometheus-operator, the operator's own
// CRD schema) in two ways, because each catches what the other does not:
// - `.validate()`: types, enums, formats and required fields (it lets unknown fields through);
// - a TypeScript compile of each object `satisfies I<Kind>`: unknown and misspelled fields.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const run = promisify(execFile)

/** Where kubernetes-models keeps a kind: `kubernetes-models/<group>/<version>/<Kind>`, core group without a group. */
function modelModule(o: K8sObject): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion]
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}`
  return `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`
}

interface Model {
  validate(): void
}
type ModelClass = new (data: object) => Model

async function modelClass(o: K8sObject): Promise<ModelClass> {
  const mod = (await import(modelModule(o))) as Record<string, unknown>
  const cls = mod[o.kind]
  if (typeof cls !== 'function') throw new Error(`${modelModule(o)} exports no ${o.kind}`)
  return cls as ModelClass
}

t.test('every rendered object validates against its Kubernetes schema', { skip: missing }, async (t) => {
  const env = await helmHome(t)
  const objects: { set: string; o: K8sObject }[] = []
  for (const [set, file] of Object.entries(await valueSets())) {
    for (const o of await render('v4', env, [file])) objects.push({ set, o })
  }
  const kinds = new Set(objects.map(({ o }) => o.kind))
  for (const kind of ['StatefulSet', 'Deployment', 'Service', 'ConfigMap', 'Secret', 'NetworkPolicy', 'PodDisruptionBudget', 'ServiceAccount', 'Ingress', 'HorizontalPodAutoscaler', 'ServiceMonitor', 'Pod']) {
    t.ok(kinds.has(kind), `the value sets render a ${kind}`)
  }

  for (const { set, o } of objects) {
    const Cls = await modelClass(o)
    t.doesNotThrow(() => new Cls(o).validate(), `${set}: ${o.kind}/${o.metadata.name}`)
  }
  // the validator is not a no-op: a wrong type in a pod is refused
  const Pod = await modelClass({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })
  t.throws(() => new Pod({ metadata: { name: 'x' }, spec: { containers: [{ name: 'a', image: 'b', ports: [{ containerPort: 'eighty' }] }] } }).validate(), 'a wrong type is caught')

  // Unknown fields: one compile of every object (0.2–0.3 s per object otherwise). The file sits
  // under node_modules/.cache so the compiler resolves kubernetes-models from the repository.
  const cache = join(REPO, 'node_modules', '.cache')
  await mkdir(cache, { recursive: true })
  const dir = await mkdtemp(join(cache, 'omni-helm-kinds-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // one type alias per kind: T0, T1, … in the order kinds first appear
  const aliases = new Map<string, { alias: string; line: string }>()
  const aliasOf = (o: Pick<K8sObject, 'apiVersion' | 'kind'>) => {
    const key = `${o.apiVersion}/${o.kind}`
    let entry = aliases.get(key)
    if (!entry) {
      const alias = `T${aliases.size}`
      entry = { alias, line: `import type { I${o.kind} as ${alias} } from '${modelModule(o as K8sObject)}'` }
      aliases.set(key, entry)
    }
    return entry.alias
  }
  const lines = objects.flatMap(({ set, o }, i) => [`// ${set}: ${o.kind}/${o.metadata.name}`, `export const o${i} = ${JSON.stringify(o, null, 1)} satisfies ${aliasOf(o)}`])
  // the compile is not a no-op: a misspelled field must fail it, or the unused expectation does
  lines.push("export const control = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' },", '  // @ts-expect-error a misspelled field', `  spec: { selectr: { a: 'b' } } } satisfies ${aliasOf({ apiVersion: 'v1', kind: 'Service' })}`)
  const file = join(dir, 'objects.ts')
  await writeFile(file, [...[...aliases.values()].map((a) => a.line), ...lines].join('\n'))
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')
  const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', file]
  const result = await run(process.execPath, args, { cwd: REPO, maxBuffer: 16 * 1024 * 1024 }).then(
    () => ({ ok: true, out: '' }),
    (err: { stdout?: string; message: string }) => ({ ok: false, out: err.stdout ?? err.message }),
  )
  t.ok(result.ok, `${objects.length} objects have no field their kind does not define`, { errors: result.out.split('\n').slice(0, 20) })
})
