// Rules that span pipelines and the catalog: what each pipeline publishes (outputs, catalog
// fan-out targets, the subjects its stages emit to) against what it and the others consume.
// Each broken rule would silently lose or multiply messages at run time, so the manifests are
// refused instead, with the place to change.
import type { CatalogEntry, EventCatalog } from '../catalog/catalog.ts'
import type { Problem } from '../errors/mod.ts'
import type { CompiledPipeline } from '../pipeline/compile.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import type { OutputSpec, StageSpec } from '../pipeline/spec.ts'
import { subjectsOverlap } from '../wire/mod.ts'
import { problemAt } from '../yaml/check.ts'
import type { PathSegment, YamlManifest } from '../yaml/yaml.ts'

/** A compiled pipeline with the manifest it came from (for locations). */
export interface LoadedPipeline {
  readonly manifest: YamlManifest
  readonly pipeline: CompiledPipeline
}

/** One subject a pipeline publishes to, where it says so, and why. */
interface Publish {
  readonly subject: string
  readonly path: readonly PathSegment[]
  readonly what: string
}

/** The catalog types whose subjects the pipeline's sources take in. */
function receivedTypes(p: CompiledPipeline, catalog: EventCatalog): CatalogEntry[] {
  return catalog.entries.filter((e) => p.sources.some((s) => subjectsOverlap(s, e.subject)))
}

const outputsOf = (l: LoadedPipeline): readonly OutputSpec[] => ((l.manifest.value as { outputs?: OutputSpec[] }).outputs ?? [])
const stagesOf = (l: LoadedPipeline): readonly StageSpec[] => ((l.manifest.value as { stages?: StageSpec[] }).stages ?? [])
const fanoutIndex = (l: LoadedPipeline): number => outputsOf(l).findIndex((o) => o.fanout === 'catalog')

/** Every subject the pipeline may publish to: its outputs, its catalog fan-out targets and its stages' emissions. */
function publishes(l: LoadedPipeline, catalog: EventCatalog, lookup: CartridgeLookup): Publish[] {
  const out: Publish[] = []
  outputsOf(l).forEach((o, i) => {
    if (o.subject !== undefined) out.push({ subject: o.subject, path: ['outputs', i, 'subject'], what: `outputs[${i}]` })
  })
  const fanout = fanoutIndex(l)
  if (fanout >= 0) {
    for (const e of receivedTypes(l.pipeline, catalog)) {
      for (const t of e.fanout) out.push({ subject: t.subject, path: ['outputs', fanout, 'fanout'], what: `the ${e.type} fan-out target ${t.subject}` })
    }
  }
  stagesOf(l).forEach((s, i) => {
    const emitsTo = lookup(s.uses)?.emitsTo
    for (const subject of emitsTo?.(s.with ?? {}) ?? []) out.push({ subject, path: ['stages', i, 'uses'], what: `stage ${s.id} (${s.uses})` })
  })
  return out
}

/**
 * Catalog fan-out happens once per event type: two pipelines fanning out one type would each
 * publish its targets (their ids name the pipeline), so every target would get a copy per
 * pipeline while omni_events keeps one row. The first pipeline (in file order) keeps it.
 */
export function fanoutOncePerType(loaded: readonly LoadedPipeline[], catalog: EventCatalog): Problem[] {
  const problems: Problem[] = []
  const owner = new Map<string, { pipeline: string; where: string }>()
  for (const l of loaded) {
    const i = fanoutIndex(l)
    if (i < 0) continue
    const at = ['outputs', i, 'fanout']
    for (const e of receivedTypes(l.pipeline, catalog)) {
      if (e.fanout.length === 0) continue
      const prior = owner.get(e.type)
      if (prior) problems.push(problemAt(l.manifest, at, `event type "${e.type}" is already fanned out by pipeline "${prior.pipeline}" (${prior.where}); catalog fan-out happens once per event type, so list it in one pipeline only`))
      else owner.set(e.type, { pipeline: l.pipeline.name, where: l.manifest.locate(at) })
    }
  }
  return problems
}

/**
 * An output whose subject is also a catalog fan-out target of a type the pipeline fans out: both
 * messages would have the id `out:<key>@<pipeline>@<subject>`, and the stream would keep one.
 */
export function outputsSharingIds(loaded: readonly LoadedPipeline[], catalog: EventCatalog): Problem[] {
  const problems: Problem[] = []
  for (const l of loaded) {
    const fanout = fanoutIndex(l)
    if (fanout < 0) continue
    const types = receivedTypes(l.pipeline, catalog)
    outputsOf(l).forEach((o, i) => {
      if (o.subject === undefined) return
      const clash = types.find((e) => e.fanout.some((t) => t.subject === o.subject))
      if (clash) {
        problems.push(problemAt(l.manifest, ['outputs', i, 'subject'], `"${o.subject}" is also a fan-out target of ${clash.type} (${clash.declaredAt}), which outputs[${fanout}] publishes: both would get the message id out:<key>@${l.pipeline.name}@${o.subject} and the stream would drop one as a duplicate`))
      }
    })
  }
  return problems
}

/**
 * Loops: a pipeline publishing (an output, a fan-out target, a command or other stage emission)
 * onto a subject that it, or a pipeline downstream of it, consumes. Each event would come back
 * forever. Each loop is reported once, at the publish that closes it.
 */
export function pipelineLoops(loaded: readonly LoadedPipeline[], catalog: EventCatalog, lookup: CartridgeLookup): Problem[] {
  const edges = new Map<string, { to: LoadedPipeline; via: Publish }[]>()
  for (const l of loaded) {
    const list: { to: LoadedPipeline; via: Publish }[] = []
    for (const via of publishes(l, catalog, lookup)) {
      for (const to of loaded) if (to.pipeline.sources.some((s) => subjectsOverlap(s, via.subject))) list.push({ to, via })
    }
    edges.set(l.pipeline.name, list)
  }
  const problems: Problem[] = []
  const reported = new Set<string>()
  type Step = { readonly from: LoadedPipeline; readonly via: Publish }
  // breadth-first from every pipeline (each reached once, so the work stays pipelines × edges);
  // an edge back to the start closes a loop, and the parents give its route
  for (const start of loaded) {
    const parent = new Map<string, Step[]>([[start.pipeline.name, []]])
    const queue: LoadedPipeline[] = [start]
    let closed: Step[] | undefined
    while (queue.length > 0 && !closed) {
      const at = queue.shift() as LoadedPipeline
      const path = parent.get(at.pipeline.name) as Step[]
      for (const edge of edges.get(at.pipeline.name) ?? []) {
        const step = [...path, { from: at, via: edge.via }]
        if (edge.to === start) {
          closed = step
          break
        }
        if (parent.has(edge.to.pipeline.name)) continue
        parent.set(edge.to.pipeline.name, step)
        queue.push(edge.to)
      }
    }
    if (!closed) continue
    const members = [...new Set(closed.map((s) => s.from.pipeline.name))].sort().join(',')
    if (reported.has(members)) continue
    reported.add(members)
    const last = closed[closed.length - 1] as Step
    const route = closed.map((s) => `pipeline "${s.from.pipeline.name}" publishes ${s.via.subject} (${s.via.what})`).join(', which ')
    problems.push(problemAt(last.from.manifest, last.via.path, `loop: ${route}, which pipeline "${start.pipeline.name}" consumes again; every event would circle forever`))
  }
  return problems
}
