import type { CartridgeEnv, CelProgram, Cartridge, StageFn } from './stage.ts'
import { ConfigProblem } from './stage.ts'
import type { Problem } from '../errors/mod.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import type { PathSegment, YamlManifest } from '../yaml/yaml.ts'
import { compileCel } from './cel.ts'

/** Looks cartridges up by id; the registry of built-ins satisfies it, and so can tests. */
export type CartridgeLookup = (id: string) => Cartridge | undefined

/** Compiles a CEL expression at `path`, or records a located problem and returns undefined. */
export function celAt(manifest: YamlManifest, path: readonly PathSegment[], expression: string, problems: Problem[]): CelProgram | undefined {
  const result = compileCel(expression)
  if (result.type === 'ok') return result.program
  problems.push(problemAt(manifest, path, `invalid CEL expression: ${result.message}`))
  return undefined
}

/**
 * Builds a stage function from `uses` + `with` found at `path` in a manifest: unknown
 * cartridge, a `with` that breaks the cartridge's schema, and semantic problems the cartridge
 * reports (bad CEL inside `with`, …) all become located problems.
 */
export function buildStage(
  manifest: YamlManifest,
  path: readonly PathSegment[],
  uses: string,
  config: Record<string, unknown> | undefined,
  lookup: CartridgeLookup,
  names: { pipeline: string; stage: string },
  problems: Problem[],
): StageFn | undefined {
  const cartridge = lookup(uses)
  if (!cartridge) {
    problems.push(problemAt(manifest, [...path, 'uses'], `unknown cartridge "${uses}" (run \`omni catalog\` to list them)`))
    return undefined
  }
  const withValue = config ?? {}
  const schemaProblems = checkAgainstSchema(manifest, cartridge.configSchema, withValue, [...path, 'with'])
  if (schemaProblems.length > 0) {
    problems.push(...schemaProblems)
    return undefined
  }
  const env: CartridgeEnv = {
    pipeline: names.pipeline,
    stage: names.stage,
    cel(expression, at) {
      const result = compileCel(expression)
      if (result.type === 'error') throw new ConfigProblem(at, `invalid CEL expression: ${result.message}`)
      return result.program
    },
  }
  try {
    return cartridge.create(withValue, env)
  } catch (err) {
    if (err instanceof ConfigProblem) problems.push(problemAt(manifest, [...path, 'with', ...err.path], err.message))
    else problems.push(problemAt(manifest, [...path, 'with'], err instanceof Error ? err.message : String(err)))
    return undefined
  }
}

/** Only transform cartridges may shape a fan-out target: they rewrite data and emit nothing. */
export function isTargetTransform(id: string): boolean {
  return id.startsWith('transform.')
}

/** Compiles a list of target transforms found at `path` (`[{uses, with}]`). */
export function buildTransforms(
  manifest: YamlManifest,
  path: readonly PathSegment[],
  list: readonly { uses: string; with?: Record<string, unknown> | undefined }[],
  lookup: CartridgeLookup,
  names: { pipeline: string; stage: string },
  problems: Problem[],
): StageFn[] {
  const fns: StageFn[] = []
  list.forEach((t, i) => {
    const at = [...path, i]
    if (!isTargetTransform(t.uses) && lookup(t.uses)) {
      problems.push(problemAt(manifest, [...at, 'uses'], `"${t.uses}" cannot transform an output; use a transform.* cartridge`))
      return
    }
    const fn = buildStage(manifest, at, t.uses, t.with, lookup, names, problems)
    if (fn) fns.push(fn)
  })
  return fns
}
