import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { REPO, helmHome, helmMissing, podSpec, render, secretData, valueSets, type ContainerLike, type K8sObject, type PodSpecLike } from '../fixtures/helm.ts'

// Policies over everything the value sets render:
// - every pod meets the Kubernetes *restricted* Pod Security Standard (and a read-only root);
// - every long-running container has startup, liveness and readiness probes, and requests and
//   limits (the helm test Pod runs to completion: probes make no sense there, resources do);
// - every image has a version tag, never `latest`;
// - no Secret material in a ConfigMap or a plain env value;
// - the platform runs `omni up` with flags `omni up --help` lists, and no pod gets a Docker socket.

const missing = helmMissing()
if (missing) t.comment(`skipped: ${missing}`)
const run = promisify(execFile)

/** Volume types the restricted standard allows. */
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'])

interface Rendered {
  set: string
  objects: K8sObject[]
}

// every value set rendered once, for all the checks below (the helm home goes when the file ends)
let rendered: Promise<Rendered[]> | undefined
function renderAll(): Promise<Rendered[]> {
  rendered ??= (async () => {
    const env = await helmHome(t)
    const out: Rendered[] = []
    for (const [set, file] of Object.entries(await valueSets())) out.push({ set, objects: await render('v4', env, [file]) })
    return out
  })()
  return rendered
}

const pods = (objects: K8sObject[]) => objects.flatMap((o) => (podSpec(o) ? [{ o, spec: podSpec(o) as PodSpecLike }] : []))
const containersOf = (spec: PodSpecLike): ContainerLike[] => [...spec.containers, ...(spec.initContainers ?? [])]
const isTestHook = (o: K8sObject) => o.metadata.annotations?.['helm.sh/hook'] === 'test'

type SC = { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type?: string }; allowPrivilegeEscalation?: boolean; privileged?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[]; add?: string[] } }

t.test('every pod meets the restricted Pod Security Standard', { skip: missing }, async (t) => {
  for (const { set, objects } of await renderAll()) {
    for (const { o, spec } of pods(objects)) {
      const where = `${set}: ${o.kind}/${o.metadata.name}`
      const pod = (spec.securityContext ?? {}) as SC
      t.notOk(spec.hostNetwork || spec.hostPID || spec.hostIPC, `${where}: no host namespaces`)
      for (const v of spec.volumes ?? []) {
        const type = Object.keys(v).find((k) => k !== 'name') ?? '?'
        t.ok(RESTRICTED_VOLUMES.has(type), `${where}: volume ${v.name} is ${type}, which restricted allows`)
      }
      t.equal(spec.automountServiceAccountToken, false, `${where}: no service account token`)
      for (const c of containersOf(spec)) {
        const sc = (c.securityContext ?? {}) as SC
        const at = `${where} container ${c.name}`
        t.ok((sc.runAsNonRoot ?? pod.runAsNonRoot) === true, `${at}: runAsNonRoot`)
        t.not(sc.runAsUser ?? pod.runAsUser, 0, `${at}: not uid 0`)
        t.ok(['RuntimeDefault', 'Localhost'].includes(sc.seccompProfile?.type ?? pod.seccompProfile?.type ?? ''), `${at}: seccomp RuntimeDefault`)
        t.equal(sc.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation false`)
        t.notOk(sc.privileged, `${at}: not privileged`)
        t.ok(sc.capabilities?.drop?.includes('ALL'), `${at}: drops ALL capabilities`)
        t.same((sc.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE'), [], `${at}: adds no capability but NET_BIND_SERVICE`)
        t.equal(sc.readOnlyRootFilesystem, true, `${at}: read-only root filesystem`)
      }
    }
  }
})

t.test('every container has probes, requests and limits; every image a version tag', { skip: missing }, async (t) => {
  for (const { set, objects } of await renderAll()) {
    for (const { o, spec } of pods(objects)) {
      for (const c of containersOf(spec)) {
        const at = `${set}: ${o.kind}/${o.metadata.name} container ${c.name}`
        if (!isTestHook(o)) t.ok(c.startupProbe && c.livenessProbe && c.readinessProbe, `${at}: startup, liveness and readiness probes`)
        t.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${at}: cpu and memory requests`)
        t.ok(c.resources?.limits?.cpu && c.resources.limits.memory, `${at}: cpu and memory limits`)
        const tag = /:([^/:@]+)$/.exec(c.image)?.[1]
        t.ok(tag && tag !== 'latest', `${at}: image ${c.image} has a version tag`)
      }
    }
  }
})

/** Every secret string a release holds: each Secret value, and each string field of a JSON one (a password inside credentials.json). */
function secretStrings(objects: K8sObject[], valuesSecrets: readonly string[]): string[] {
  const out = new Set(valuesSecrets)
  for (const s of objects.filter((o) => o.kind === 'Secret')) {
    for (const value of Object.values(secretData(s))) {
      out.add(value)
      try {
        for (const v of Object.values(JSON.parse(value) as Record<string, unknown>)) if (typeof v === 'string' && v.length >= 12) out.add(v)
      } catch {
        // not JSON: the value itself is the secret
      }
    }
  }
  // a Secret's tokens.yaml holds the same tokens as its own keys; short strings would match anything
  return [...out].filter((v) => v.length >= 12)
}

t.test('no Secret material in ConfigMaps or plain env values', { skip: missing }, async (t) => {
  // secrets given in the value sets themselves, which must land in Secrets only
  const fromValues = ['leaf-password-for-tests-only-0123456789', 'clickhouse-password-for-tests', 'evolution-key-for-tests-only']
  let checked = 0
  for (const { set, objects } of await renderAll()) {
    const secrets = secretStrings(objects, fromValues)
    for (const cm of objects.filter((o) => o.kind === 'ConfigMap')) {
      const text = JSON.stringify((cm as { data?: object }).data ?? {})
      for (const s of secrets) t.notOk(text.includes(s), `${set}: ConfigMap/${cm.metadata.name} holds no secret value`)
      t.notMatch(text, /password\s*[:=]\s*\\?"[^$\\]/i, `${set}: ConfigMap/${cm.metadata.name} has no literal password`)
      checked++
    }
    for (const { o, spec } of pods(objects)) {
      for (const c of containersOf(spec)) {
        for (const e of c.env ?? []) {
          if (e.value === undefined) continue
          t.notOk(secrets.includes(e.value), `${set}: ${o.metadata.name} ${c.name} env ${e.name} is no secret value`)
          t.notMatch(e.name, /PASSWORD|SECRET|TOKEN|APIKEY/i, `${set}: ${o.metadata.name} ${c.name} env ${e.name} takes a secret only from a Secret`)
        }
        for (const a of c.args ?? []) for (const s of secrets) t.notOk(a.includes(s), `${set}: ${o.metadata.name} ${c.name} argument holds no secret`)
      }
    }
  }
  t.ok(checked >= 6, `${checked} ConfigMaps checked`)
})

t.test('the platform runs omni up with flags that exist, and no pod reaches a Docker engine', { skip: missing }, async (t) => {
  const { stdout: help } = await run(process.execPath, ['--no-warnings', join(REPO, 'cmd', 'omni.ts'), 'up', '--help'], { cwd: REPO })
  const known = new Set(help.match(/--[a-z][a-z0-9-]*/g))
  for (const { set, objects } of await renderAll()) {
    const platform = objects.find((o) => ['Deployment', 'StatefulSet'].includes(o.kind) && o.metadata.labels?.['app.kubernetes.io/component'] === 'platform')
    const c = platform && podSpec(platform)?.containers[0]
    if (!c) {
      t.fail(`${set}: no platform workload`)
      continue
    }
    t.equal(c.args?.[0], 'up', `${set}: omni up`)
    for (const arg of (c.args ?? []).slice(1)) {
      const flag = /^--[a-z][a-z0-9-]*/.exec(arg)?.[0]
      t.ok(flag && known.has(flag), `${set}: ${arg.split('=')[0]} is a flag of omni up`)
    }
    const text = JSON.stringify(objects)
    t.notMatch(text, /docker\.sock|hostPath/, `${set}: no Docker socket, no host path`)
  }
})
