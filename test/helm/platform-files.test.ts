import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { readTokensFile } from '../../src/api/tokens-file.ts'
import { resolveApiConfig } from '../../src/api/options.ts'
import { readNatsCredentials } from '../../src/server/mod.ts'
import { layOutVolume } from '../fixtures/helm-pod.ts'
import { REPO, find, helmHome, helmMissing, render, valueSets, type K8sObject } from '../fixtures/helm.ts'

// The files the chart gives the platform's pod, read by the platform's own code, laid out as the
// kubelet lays out its volumes: manifests from values pass `omni validate`, the mesh manifest
// (with its credentials files from the Secrets) passes it too, and the tokens file and NATS login
// are what `omni up --tokens` and OMNI_NATS_CREDENTIALS accept.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const run = promisify(execFile)
const FULL = 'omni-omni-fabric'
const SHIPPED = ['catalog/messaging.yaml', 'catalog/cartridges.yaml', 'pipelines/whatsapp-personal.yaml', 'webhooks/whatsapp.yaml']

const validate = (path: string) =>
  run(process.execPath, ['--no-warnings', join(REPO, 'cmd', 'omni.ts'), 'validate', path], { cwd: REPO }).then(
    (r) => ({ ok: true, out: r.stdout }),
    (err: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  )

async function renderSet(t: Test, name: string, extra: string[] = []): Promise<K8sObject[]> {
  const file = (await valueSets())[name]
  if (!file) throw new Error(`value set ${name} is missing`)
  return render('v4', await helmHome(t), [file], extra)
}

t.test('manifests from values reach the pod as a folder omni validate accepts', { skip: missing }, async (t) => {
  // the repository's own manifests, given as values (a/b.yaml keys become a__b.yaml in the ConfigMap)
  const setFiles = SHIPPED.flatMap((p) => ['--set-file', `manifests.files.${p.replaceAll('.', '\\.')}=${join(REPO, 'manifests', p)}`])
  const objects = await renderSet(t, 'external-clickhouse-3-replicas', setFiles)
  const dep = find(objects, 'Deployment', FULL)
  const mount = await layOutVolume(t, objects, dep, 'manifests')
  const r = await validate(mount)
  t.ok(r.ok, 'omni validate accepts the mounted folder', { output: r.out })
  t.match(r.out, /ok: 4 file\(s\), \d+ event type\(s\), 1 pipeline\(s\)/, 'all four files, read through the kubelet\'s layout')
  t.ok((dep.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]?.args.includes('--manifests=/etc/omni/manifests'))
  const again = await renderSet(t, 'external-clickhouse-3-replicas', [...setFiles.slice(0, -2), '--set', 'manifests.files.pipelines/extra\\.yaml=kind: Pipeline'])
  const checksum = (o: K8sObject[]) => (find(o, 'Deployment', FULL).spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['checksum/manifests']
  t.not(checksum(again), checksum(objects), 'a change of the manifests changes the pod template, so the pods roll')
})

for (const set of ['hub', 'leaf']) {
  t.test(`${set}: the mesh manifest and its credentials files pass omni validate`, { skip: missing }, async (t) => {
    const objects = await renderSet(t, set)
    const sts = find(objects, 'StatefulSet', FULL)
    const mount = await layOutVolume(t, objects, sts, 'mesh')
    // the pod mounts it at /etc/omni/mesh; here it is elsewhere
    const manifest = join(mount, 'mesh.yaml')
    await writeFile(manifest, (await readFile(manifest, 'utf8')).replaceAll('/etc/omni/mesh', mount))
    const r = await validate(manifest)
    t.ok(r.ok, `omni validate accepts the ${set}'s mesh manifest`, { output: r.out })
  })
}

t.test('the tokens file and the NATS login are what omni up reads', { skip: missing }, async (t) => {
  const objects = await renderSet(t, 'defaults')
  const sts = find(objects, 'StatefulSet', FULL)
  const tokens = await readTokensFile(join(await layOutVolume(t, objects, sts, 'tokens'), 'tokens.yaml'))
  const api = resolveApiConfig({ tokens })
  t.same(api.tokens.map((k) => [k.name, [...k.scopes]]), [['admin', ['admin']], ['metrics', ['read']]], 'an admin token and a read-only metrics token')
  const login = await readNatsCredentials(join(await layOutVolume(t, objects, sts, 'nats-credentials'), 'credentials.json'))
  t.equal(login.user, 'omni')
})

t.test('a change of a secret the pods read only at start rolls them; the template holds no secret in clear', { skip: missing }, async (t) => {
  // tokens.yaml (--tokens), the webhook variables (envFrom), the ClickHouse password (env) and the
  // mesh login are read when the process starts: a Secret that changes under running pods is not
  // seen until they restart, so the pod template must change with them
  type Pod = { spec: { template: { metadata: { annotations: Record<string, string> } } } }
  const annotations = (o: K8sObject[], kind: string, name: string) => (find(o, kind, name) as unknown as Pod).spec.template.metadata.annotations
  const base = await renderSet(t, 'external-clickhouse-3-replicas')
  const changes: Array<[string, string[]]> = [
    ['the tokens\' tenants', ['--set', 'api.tokens.tenants={default,acme}']],
    ['a webhook secret', ['--set', 'webhooks.secrets.OMNI_EVOLUTION_APIKEY=another-key']],
    ['the ClickHouse password', ['--set', 'clickhouse.existingSecret=', '--set', 'clickhouse.password=another-password']],
  ]
  for (const [what, extra] of changes) {
    const after = await renderSet(t, 'external-clickhouse-3-replicas', extra)
    t.notSame(annotations(after, 'Deployment', FULL), annotations(base, 'Deployment', FULL), `${what} changes the platform's pod template`)
  }
  t.same(annotations(await renderSet(t, 'external-clickhouse-3-replicas'), 'Deployment', FULL), annotations(base, 'Deployment', FULL), 'the same values give the same pod template (no roll on every upgrade)')
  const leaf = await renderSet(t, 'leaf')
  const leafAgain = await renderSet(t, 'leaf', ['--set', 'mesh.credentials.password=another-password-of-the-leaf'])
  t.notSame(annotations(leafAgain, 'StatefulSet', `${FULL}-nats`), annotations(leaf, 'StatefulSet', `${FULL}-nats`), 'a new mesh login rolls the NATS servers that dial the hubs with it')
  t.notSame(annotations(leafAgain, 'StatefulSet', FULL), annotations(leaf, 'StatefulSet', FULL), 'and the platform that reads it')
  const text = JSON.stringify([...base, ...leaf].filter((o) => o.kind !== 'Secret'))
  t.notMatch(text, 'evolution-key-for-tests-only', 'no webhook secret outside Secrets')
})
