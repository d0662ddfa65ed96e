import type { Problem } from '../errors/mod.ts'
import { trust as trustCartridge } from '../cartridges/guard/trust.ts'
import { compileCel } from '../pipeline/cel.ts'
import { ConfigProblem, type CartridgeEnv } from '../pipeline/stage.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import type { YamlManifest } from '../yaml/yaml.ts'
import { ANY_TENANT } from './config.ts'
import type { MeshManifest } from './manifest-schema.ts'

/** The rules between the fields of a Mesh manifest that its schema cannot say, each a located problem. */
export function meshRuleProblems(doc: YamlManifest, m: MeshManifest): Problem[] {
  const problems: Problem[] = []
  const bad = (path: (string | number)[], message: string) => problems.push(problemAt(doc, path, message))
  const hubs = m.hubs ?? []
  const members = m.members ?? []
  if (m.role === 'leaf') {
    if (hubs.length === 0) bad(m.hubs ? ['hubs'] : [], 'a leaf needs `hubs`: the URL(s) of its hub, nats-leaf://host:port')
    if (m.credentials === undefined) bad([], 'a leaf needs `credentials`: the file with its login at the hub (`omni mesh credentials <node> --out FILE` makes one)')
    if (m.listen !== undefined) bad(['listen'], 'only a hub listens for leaf nodes; a leaf connects to `hubs`')
    if (members.length > 0) bad(['members'], 'only a hub admits members; list this node among its hub\'s members instead')
  } else {
    if (m.listen === undefined) bad([], 'a hub needs `listen`: HOST:PORT where its leaf nodes connect')
    if (hubs.length > 0 && m.credentials === undefined) bad(['hubs'], 'a hub that federates with another cluster\'s hub needs `credentials`: its login there')
    if (hubs.length === 0 && m.credentials !== undefined) bad(['credentials'], 'is used only to log in at `hubs`, and this hub has none')
  }
  hubs.forEach((url, i) => {
    const why = hubUrlProblem(url)
    if (why) bad(['hubs', i], why)
  })
  if (m.listen !== undefined && !parseListen(m.listen)) bad(['listen'], `"${m.listen}" is not HOST:PORT with a port from 1 to 65535`)
  // each node's name is its JetStream domain and its login: one name, one node, one cluster
  const clusters = new Map<string, { cluster: string; where: string }>([[m.node, { cluster: m.cluster, where: 'this node' }]])
  const seen = (list: 'members' | 'peers', entries: readonly { node: string; cluster: string }[]) => {
    const names = new Set<string>()
    entries.forEach((e, i) => {
      const where = `${list}[${i}]`
      if (e.node === m.node) bad([list, i, 'node'], `domain clash: "${e.node}" is this node's own name; each node's name is its JetStream domain, so two nodes with one name would collide`)
      else if (names.has(e.node)) bad([list, i, 'node'], `two nodes with the same name: "${e.node}" is listed twice in ${list}`)
      names.add(e.node)
      const prior = clusters.get(e.node)
      if (prior && prior.cluster !== e.cluster && e.node !== m.node) bad([list, i, 'cluster'], `"${e.node}" is of cluster "${prior.cluster}" in ${prior.where} and of cluster "${e.cluster}" here; a node belongs to one cluster`)
      else if (!prior) clusters.set(e.node, { cluster: e.cluster, where })
    })
  }
  seen('members', members)
  seen('peers', m.peers ?? [])
  ;(m.peers ?? []).forEach((p, i) => {
    const tenants = p.tenants ?? []
    tenants.forEach((tenant, j) => {
      if (tenants.indexOf(tenant) !== j) bad(['peers', i, 'tenants', j], `"${tenant}" is listed twice`)
    })
    if (tenants.includes(ANY_TENANT) && tenants.length > 1) bad(['peers', i, 'tenants'], `"${ANY_TENANT}" already lets ${p.node}'s events land in any tenant of this node; list it alone, or list the tenants instead`)
  })
  return problems
}

/** Why a hub URL cannot be used, or undefined when it can. */
function hubUrlProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return `"${text}" is not a URL; expected nats-leaf://host:port`
  }
  if (url.protocol !== 'nats-leaf:' && url.protocol !== 'tls:') return `"${text}" must start with nats-leaf:// (or tls://)`
  if (url.hostname === '' || url.port === '') return `"${text}" needs a host and a port: nats-leaf://host:port`
  if (url.username !== '' || url.password !== '') return `"${text}" holds a login; put it in the \`credentials\` file instead, so it is never printed`
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') return `"${text}" may hold only a host and a port`
  return undefined
}

/** `host:port` or `[v6]:port` with a port from 1 to 65535 (nats-server does not report a leaf port it picks). */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text)
  if (!m) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535) return undefined
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port }
}

/** `trust` checked as guard.trust checks its own `with`: its schema, then every CEL expression. */
export function trustProblems(doc: YamlManifest, trust: unknown): Problem[] {
  if (trust === undefined) return []
  const schema = checkAgainstSchema(doc, trustCartridge.configSchema, trust, ['trust'])
  if (schema.length > 0) return schema
  const env: CartridgeEnv = {
    pipeline: 'mesh',
    stage: 'trust',
    cel(expression, at) {
      const result = compileCel(expression)
      if (result.type === 'error') throw new ConfigProblem(at, `invalid CEL expression: ${result.message}`)
      return result.program
    },
  }
  try {
    trustCartridge.create(trust as Parameters<typeof trustCartridge.create>[0], env)
    return []
  } catch (err) {
    if (err instanceof ConfigProblem) return [problemAt(doc, ['trust', ...err.path], err.message)]
    return [problemAt(doc, ['trust'], err instanceof Error ? err.message : String(err))]
  }
}
