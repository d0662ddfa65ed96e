import type { CelProgram, StageFn } from './stage.ts'
import type { Envelope } from '../envelope/schema.ts'
import { stableHash } from '../envelope/derive.ts'
import { SUBJECT_RE, subjectsOverlap } from '../wire/mod.ts'
import type { Problem } from '../errors/mod.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import type { YamlManifest } from '../yaml/yaml.ts'
import { topologicalLevels } from './dag.ts'
import { parseDuration } from '../util/duration.ts'
import { DEFAULT_RETRY_POLICY } from '../jetstream/settle.ts'
import {
  DEFAULT_STAGE_TIMEOUT_MS,
  PipelineManifestSchema,
  type OnError,
  type PipelineManifest,
} from './spec.ts'
import { sourceFilters, subjectSourceProblems, withMeshSourceProblems } from './mesh-source.ts'
import { buildStage, buildTransforms, celAt, type CartridgeLookup } from './stage-builder.ts'

export interface CompiledStage {
  readonly id: string
  readonly uses: string
  readonly needs: readonly string[]
  readonly when?: CelProgram
  readonly run: StageFn
  readonly onError: OnError
  readonly timeoutMs: number
  /**
   * Additive stages (alpha and community plugins) run after the approved stages of their level;
   * their failure is recorded and never blocks the event, and they cannot change it.
   */
  readonly additive: boolean
  /** returns why the stage does not run for this event (a plugin's tenant audience), if so */
  readonly admits?: (event: Envelope) => string | undefined
}

export interface CompiledOutput {
  /** undefined when the target subjects come from the catalog's fan-out rules */
  readonly subject?: string
  readonly when?: CelProgram
  readonly transforms: readonly StageFn[]
}

/** A validated pipeline, ready to run. */
export interface CompiledPipeline {
  readonly name: string
  readonly file: string
  readonly description: string
  /** hash of the manifest's content: equal fingerprints mean nothing changed on reload */
  readonly fingerprint: string
  /** the NATS filters of its sources: subjects as written, mesh sources as omni.rcv.> filters */
  readonly sources: readonly string[]
  readonly levels: readonly (readonly CompiledStage[])[]
  readonly outputs: readonly CompiledOutput[]
  readonly maxDeliveries: number
  readonly backoffMs: readonly number[]
}

export type CompileResult = { type: 'ok'; pipeline: CompiledPipeline } | { type: 'error'; problems: Problem[] }

/** Validates a `kind: Pipeline` manifest completely and compiles it; reports every problem. */
export function compilePipeline(manifest: YamlManifest, lookup: CartridgeLookup): CompileResult {
  const problems = withMeshSourceProblems(manifest, checkAgainstSchema(manifest, PipelineManifestSchema, manifest.value))
  if (problems.length > 0) return { type: 'error', problems }
  const spec = manifest.value as PipelineManifest
  problems.push(...subjectSourceProblems(manifest, spec.sources))
  const sources = sourceFilters(spec.sources)

  const stages = new Map<string, CompiledStage>()
  const firstIndex = new Map<string, number>()
  spec.stages.forEach((s, i) => {
    const prior = firstIndex.get(s.id)
    if (prior !== undefined) {
      problems.push(problemAt(manifest, ['stages', i, 'id'], `duplicate stage id "${s.id}" (first declared at stages[${prior}])`))
      return
    }
    firstIndex.set(s.id, i)
  })
  spec.stages.forEach((s, i) => {
    const needs = s.needs ?? []
    needs.forEach((n, j) => {
      if (!firstIndex.has(n)) problems.push(problemAt(manifest, ['stages', i, 'needs', j], `needs "${n}", which is not a stage of this pipeline`))
      if (n === s.id) problems.push(problemAt(manifest, ['stages', i, 'needs', j], `stage "${s.id}" needs itself`))
    })
    const when = s.when === undefined ? undefined : celAt(manifest, ['stages', i, 'when'], s.when, problems)
    const run = buildStage(manifest, ['stages', i], s.uses, s.with, lookup, { pipeline: spec.name, stage: s.id }, problems)
    if (!run || firstIndex.get(s.id) !== i) return
    const plugin = lookup(s.uses)?.plugin
    stages.set(s.id, {
      id: s.id,
      uses: s.uses,
      needs,
      ...(when ? { when } : {}),
      run,
      additive: plugin?.additive ?? false,
      ...(plugin ? { admits: plugin.admits } : {}),
      onError: s.onError ?? 'retry',
      timeoutMs: s.timeout === undefined ? DEFAULT_STAGE_TIMEOUT_MS : parseDuration(s.timeout),
    })
  })

  const order = topologicalLevels(spec.stages.filter((s, i) => firstIndex.get(s.id) === i).map((s) => ({ id: s.id, needs: s.needs ?? [] })))
  if (order.type === 'cycle') {
    const at = firstIndex.get(order.cycle[0] ?? '') ?? 0
    problems.push(problemAt(manifest, ['stages', at, 'needs'], `cycle between stages: ${[...order.cycle, order.cycle[0]].join(' → ')}`))
  }

  const outputs = compileOutputs(manifest, spec, lookup, problems)
  if (problems.length > 0 || order.type === 'cycle') return { type: 'error', problems }
  return {
    type: 'ok',
    pipeline: {
      name: spec.name,
      file: manifest.file,
      description: spec.description ?? '',
      fingerprint: stableHash(JSON.stringify(manifest.value)),
      sources,
      levels: order.levels.flatMap((level) => approvedFirst(level.map((id) => stages.get(id) as CompiledStage))),
      outputs,
      maxDeliveries: spec.errorPolicy?.maxDeliveries ?? DEFAULT_RETRY_POLICY.maxDeliveries,
      backoffMs: spec.errorPolicy?.backoff?.map(parseDuration) ?? [...DEFAULT_RETRY_POLICY.backoffMs],
    },
  }
}

/** Splits a level so its additive stages run after its approved ones, with their results merged. */
function approvedFirst(level: readonly CompiledStage[]): CompiledStage[][] {
  const approved = level.filter((s) => !s.additive)
  const additive = level.filter((s) => s.additive)
  return [approved, additive].filter((l) => l.length > 0)
}

function compileOutputs(manifest: YamlManifest, spec: PipelineManifest, lookup: CartridgeLookup, problems: Problem[]): CompiledOutput[] {
  const compiled: CompiledOutput[] = []
  const seen = new Map<string, number>()
  let catalogFanout = -1
  ;(spec.outputs ?? []).forEach((o, i) => {
    const at = ['outputs', i] as const
    if ((o.subject === undefined) === (o.fanout === undefined)) {
      problems.push(problemAt(manifest, [...at], 'an output needs exactly one of `subject` or `fanout: catalog`'))
      return
    }
    if (o.subject !== undefined) {
      if (!SUBJECT_RE.test(o.subject)) {
        problems.push(problemAt(manifest, [...at, 'subject'], `"${o.subject}" does not follow omni.{evt|cmd}.{producer}.{event}.v{n}`))
      }
      // Even under different conditions: both would be published as out:<key>@<pipeline>@<subject>,
      // so when both match, the stream keeps one and drops the other as its duplicate.
      const prior = seen.get(o.subject)
      if (prior !== undefined) {
        problems.push(problemAt(manifest, [...at, 'subject'], `conflicting outputs: outputs[${prior}] already publishes to "${o.subject}"; both would have the message id out:<key>@${spec.name}@${o.subject}, so the stream would drop one as a duplicate (use one output with one condition)`))
      }
      seen.set(o.subject, i)
      const loop = sourceFilters(spec.sources).find((src) => subjectsOverlap(src, o.subject as string))
      if (loop) problems.push(problemAt(manifest, [...at, 'subject'], `conflicting outputs: "${o.subject}" is also a source ("${loop}") of this pipeline, which would loop`))
    } else {
      if (catalogFanout >= 0) problems.push(problemAt(manifest, [...at, 'fanout'], `conflicting outputs: outputs[${catalogFanout}] already fans out by the catalog`))
      catalogFanout = i
      if (o.transform) problems.push(problemAt(manifest, [...at, 'transform'], 'catalog fan-out uses the transforms the catalog declares per target'))
    }
    const when = o.when === undefined ? undefined : celAt(manifest, [...at, 'when'], o.when, problems)
    const transforms = buildTransforms(manifest, [...at, 'transform'], o.transform ?? [], lookup, { pipeline: spec.name, stage: `outputs[${i}]` }, problems)
    compiled.push({ ...(o.subject ? { subject: o.subject } : {}), ...(when ? { when } : {}), transforms })
  })
  return compiled
}
