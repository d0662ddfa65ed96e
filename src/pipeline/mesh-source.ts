import Type, { type Static } from 'typebox'
import type { Problem } from '../errors/mod.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import type { YamlManifest } from '../yaml/yaml.ts'
import { MESH_NAME_PATTERN, RECEIVED_SUBJECT_PREFIX, receivedFilter, subjectsOverlap } from '../wire/mod.ts'

/**
 * A pipeline source on events received from other mesh nodes:
 * `{ mesh: cluster | public | any, types: [message.received, …], nodes: [a1] }`. It compiles to
 * filters on `omni.rcv.>`, where the receiver stores what it admitted; a plain subject source
 * never reaches them.
 */
export const MeshSourceSchema = Type.Object(
  {
    mesh: Type.Union([Type.Literal('cluster'), Type.Literal('public'), Type.Literal('any')], { description: 'which received events: of this cluster, public ones from any cluster, or both' }),
    types: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)+$' }), { minItems: 1, description: 'event types of the catalog' }),
    nodes: Type.Optional(Type.Array(Type.String({ pattern: MESH_NAME_PATTERN }), { minItems: 1, description: 'only events received from these nodes (default: any)' })),
  },
  { additionalProperties: false },
)
export type MeshSource = Static<typeof MeshSourceSchema>

/** The NATS filters of one mesh source: one per visibility, node and type. */
export function meshSourceFilters(source: MeshSource): string[] {
  const visibilities = source.mesh === 'any' ? (['*'] as const) : ([source.mesh] as const)
  const nodes = source.nodes ?? ['*']
  return visibilities.flatMap((vis) => nodes.flatMap((node) => source.types.map((type) => receivedFilter(vis, node, type))))
}

/** Every source of a pipeline as NATS filters, duplicates removed. */
export function sourceFilters(sources: readonly (string | MeshSource)[]): string[] {
  return [...new Set(sources.flatMap((s) => (typeof s === 'string' ? [s] : meshSourceFilters(s))))]
}

/**
 * Subject sources that would take in received events: those are reached only through a mesh
 * source, so that `guard.trust` and the catalog have run on them and a pipeline says it wants them.
 */
export function subjectSourceProblems(manifest: YamlManifest, sources: readonly (string | MeshSource)[]): Problem[] {
  const problems: Problem[] = []
  sources.forEach((s, i) => {
    if (typeof s === 'string' && subjectsOverlap(s, `${RECEIVED_SUBJECT_PREFIX}.>`)) {
      problems.push(problemAt(manifest, ['sources', i], `"${s}" would take in events received from other nodes (${RECEIVED_SUBJECT_PREFIX}.>); name them with a mesh source, e.g. { mesh: cluster, types: [message.received] }`))
    }
  })
  return problems
}

/** Types named by mesh sources that the catalog does not declare. */
export function meshSourceTypeProblems(manifest: YamlManifest, sources: readonly (string | MeshSource)[], known: (type: string) => boolean): Problem[] {
  const problems: Problem[] = []
  sources.forEach((s, i) => {
    if (typeof s === 'string') return
    s.types.forEach((type, j) => {
      if (!known(type)) problems.push(problemAt(manifest, ['sources', i, 'types', j], `event type "${type}" is not in the catalog`))
    })
  })
  return problems
}

/**
 * The schema's problems with a manifest's sources, said plainly for mesh sources: a source
 * written as a map is a mesh source, so its problems are its own (an unknown field, empty
 * types), not "matches none of the allowed forms". Other problems pass through unchanged.
 */
export function withMeshSourceProblems(manifest: YamlManifest, problems: readonly Problem[]): Problem[] {
  const value = manifest.value as { sources?: unknown } | undefined
  const sources = Array.isArray(value?.sources) ? (value.sources as unknown[]) : []
  const own: Problem[] = []
  const maps = new Set<number>()
  sources.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) return
    maps.add(i)
    own.push(...checkAgainstSchema(manifest, MeshSourceSchema, s, ['sources', i]))
  })
  if (maps.size === 0) return [...problems]
  const theirs = (p: Problem) => [...maps].some((i) => p.message.startsWith(`sources[${i}]`))
  return [...problems.filter((p) => !theirs(p)), ...own]
}
