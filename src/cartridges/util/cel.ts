import type { PathSegment } from '../../yaml/yaml.ts'
import { evaluateCondition } from '../../pipeline/cel.ts'
import type { CartridgeEnv, CelProgram, CelVars, StageContext } from '../../pipeline/stage.ts'

/** The variables every cartridge expression sees: the envelope, its data and the labels so far. */
export function celVars(ctx: StageContext): CelVars {
  return { event: ctx.event, data: ctx.event.data, labels: ctx.labels }
}

/** A rule from `with.rules[]` with its `when` compiled. */
export type Compiled<R> = R & { readonly test: CelProgram }

/** Compiles `rules[i].when` for every rule; a bad expression is a ConfigProblem at `[...at, i, 'when']`. */
export function compileRules<R extends { readonly when: string }>(
  rules: readonly R[],
  env: CartridgeEnv,
  at: readonly PathSegment[] = ['rules'],
): Compiled<R>[] {
  return rules.map((rule, i) => ({ ...rule, test: env.cel(rule.when, [...at, i, 'when']) }))
}

/**
 * The first rule whose condition is true. A condition that fails to evaluate (a missing field)
 * does not apply, the same as everywhere else conditions are used.
 */
export function firstMatch<R extends { readonly test: CelProgram }>(rules: readonly R[], vars: CelVars): { index: number; rule: R } | undefined {
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index] as R
    if (evaluateCondition(rule.test, vars).value) return { index, rule }
  }
  return undefined
}

/** Every rule whose condition is true, in order. */
export function allMatches<R extends { readonly test: CelProgram }>(rules: readonly R[], vars: CelVars): R[] {
  return rules.filter((rule) => evaluateCondition(rule.test, vars).value)
}

export type KeyResult = { readonly type: 'ok'; readonly key: string } | { readonly type: 'error'; readonly message: string }

/** Evaluates a key expression: a string, or a number that is turned into one. */
export function evaluateKey(program: CelProgram, vars: CelVars): KeyResult {
  let value: unknown
  try {
    value = program(vars)
  } catch (err) {
    return { type: 'error', message: (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '' }
  }
  if (typeof value === 'string') return { type: 'ok', key: value }
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isFinite(value))) return { type: 'ok', key: String(value) }
  return { type: 'error', message: `returned ${value === null ? 'null' : typeof value}, not a string` }
}
