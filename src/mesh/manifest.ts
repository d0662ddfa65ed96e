import { stat } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { omniError, type Problem } from '../errors/mod.ts'
import { readNatsCredentials, type NatsCredentials } from '../server/mod.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import { readYamlManifest, type PathSegment, type YamlManifest } from '../yaml/yaml.ts'
import { DEFAULT_PEER_TENANT, type MeshConfig, type MeshSovereignty, type MeshTrust, type SovereigntyLevel } from './config.ts'
import { MeshManifestSchema, type MeshManifest } from './manifest-schema.ts'
import { meshRuleProblems, parseListen, trustProblems } from './manifest-rules.ts'

export { MeshManifestSchema, type MeshManifest } from './manifest-schema.ts'

/** Compiled, with warnings (located like problems) that do not stop the node; or every problem. */
export type MeshCompileResult = { readonly type: 'ok'; readonly config: MeshConfig; readonly warnings: readonly Problem[] } | { readonly type: 'error'; readonly problems: readonly Problem[] }

/**
 * Checks a `kind: Mesh` document and reads the credential files it names into a MeshConfig.
 * Every problem is located by `doc.locate` (file:line:col for a manifest, the flag for `omni up`
 * flags); credential paths are resolved against `baseDir` (the manifest's folder, or the
 * working directory for flags).
 */
export async function compileMeshDocument(doc: YamlManifest, baseDir: string): Promise<MeshCompileResult> {
  const schema = checkAgainstSchema(doc, MeshManifestSchema, doc.value)
  if (schema.length > 0) return { type: 'error', problems: schema }
  const m = doc.value as MeshManifest
  const problems = [...meshRuleProblems(doc, m), ...trustProblems(doc, m.trust)]
  const warnings: Problem[] = []
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p))
  const credentials = m.credentials === undefined ? undefined : await credentialsAt(doc, ['credentials'], at(m.credentials), m.node, problems, warnings)
  const members = await Promise.all(
    (m.members ?? []).map(async (member, i) => ({ node: member.node, cluster: member.cluster, credentials: await credentialsAt(doc, ['members', i, 'credentials'], at(member.credentials), member.node, problems, warnings) })),
  )
  if (problems.length > 0) return { type: 'error', problems }
  const listen = m.listen === undefined ? undefined : parseListen(m.listen)
  const config: MeshConfig = {
    node: m.node,
    cluster: m.cluster,
    role: m.role,
    hubs: m.hubs ?? [],
    ...(credentials ? { credentials, credentialsFile: at(m.credentials as string) } : {}),
    ...(listen ? { listen } : {}),
    members: members.map((x) => ({ ...x, credentials: x.credentials as NatsCredentials })),
    peers: (m.peers ?? []).map((p) => ({ node: p.node, cluster: p.cluster, tenants: p.tenants ?? [DEFAULT_PEER_TENANT] })),
    trust: (m.trust as MeshTrust | undefined) ?? { rules: [] },
    sovereignty: sovereignty(m.sovereignty),
    startOffline: m.startOffline ?? false,
  }
  return { type: 'ok', config: deepFreeze(config), warnings }
}

/**
 * Reads, checks and compiles a `kind: Mesh` manifest file; throws OMNI_ERR_MANIFEST listing every
 * problem. `warn` hears what does not stop the node (a credentials file others can read), as
 * `file:line:col: message`.
 */
export async function loadMeshManifest(file: string, warn: (message: string) => void = () => {}): Promise<MeshConfig> {
  const doc = await readYamlManifest(file)
  const kind = (doc.value as { kind?: unknown } | null)?.kind
  if (kind !== 'Mesh') {
    throw omniError('OMNI_ERR_MANIFEST', `${file} is not a Mesh manifest`, { problems: [problemAt(doc, kind === undefined ? [] : ['kind'], `expected kind: Mesh, found ${JSON.stringify(kind ?? null)}`)] })
  }
  return compiledOrThrow(await compileMeshDocument(doc, dirname(resolve(file))), file, warn)
}

/** The config (its warnings told to `warn`), or one OMNI_ERR_MANIFEST listing every problem. */
export function compiledOrThrow(result: MeshCompileResult, what: string, warn: (message: string) => void = () => {}): MeshConfig {
  if (result.type === 'ok') {
    for (const w of result.warnings) warn(`${w.where}: ${w.message}`)
    return result.config
  }
  throw omniError('OMNI_ERR_MANIFEST', `${result.problems.length} problem(s) in the mesh configuration (${what})`, { problems: result.problems })
}

/**
 * A credentials file read, or a problem at its field naming the file; its user must be the node it
 * is for. A file the group or others may read is a warning: it still works, but whoever reads it
 * joins the mesh as that node.
 */
async function credentialsAt(doc: YamlManifest, path: PathSegment[], file: string, node: string, problems: Problem[], warnings: Problem[]): Promise<NatsCredentials | undefined> {
  try {
    const c = await readNatsCredentials(file)
    const mode = (await stat(file)).mode & 0o777
    if ((mode & 0o077) !== 0) {
      const mode8 = `0${mode.toString(8).padStart(3, '0')}`
      warnings.push(problemAt(doc, path, `the credentials file ${file} has mode ${mode8}: the group or others can read it, and whoever reads it joins the mesh as "${node}" (chmod 600 ${file})`))
    }
    // the hub knows each member by its node name: a file for another user is the wrong file
    if (c.user !== node) {
      problems.push(problemAt(doc, path, `the credentials file ${file} is for user "${c.user}", not "${node}" (make one with \`omni mesh credentials ${node} --out FILE\`)`))
      return undefined
    }
    return c
  } catch (err) {
    problems.push(problemAt(doc, path, err instanceof Error ? err.message : String(err)))
    return undefined
  }
}

function sovereignty(s: MeshManifest['sovereignty']): MeshSovereignty {
  return {
    default: s?.default ?? 'L1',
    keys: { ...(s?.keys ?? {}) },
    tiers: Object.fromEntries(Object.entries(s?.tiers ?? {}).filter((e): e is [string, SovereigntyLevel] => e[1] !== undefined)),
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
