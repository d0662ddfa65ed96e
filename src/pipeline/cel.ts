import { Environment } from '@marcbachmann/cel-js'
import type { CelProgram } from './stage.ts'

/**
 * The CEL environment every expression runs in: `event` is the whole envelope, `data` its
 * payload and `labels` what earlier stages decided (trust outcome, class, tags, …).
 */
const environment = new Environment({ unlistedVariablesAreDyn: false })
  .registerVariable('event', 'dyn')
  .registerVariable('data', 'dyn')
  .registerVariable('labels', 'dyn')

/** Max length of an expression: conditions are short; anything longer is a mistake. */
const MAX_EXPRESSION_LENGTH = 4096

export type CelCompileResult = { type: 'ok'; program: CelProgram } | { type: 'error'; message: string }

/** Parses and type-checks an expression; the error message is the library's first line. */
export function compileCel(expression: string): CelCompileResult {
  if (expression.length > MAX_EXPRESSION_LENGTH) return { type: 'error', message: `expression longer than ${MAX_EXPRESSION_LENGTH} characters` }
  try {
    const parsed = environment.parse(expression)
    const checked = parsed.check()
    if (!checked.valid) return { type: 'error', message: firstLine(checked.error) }
    return { type: 'ok', program: parsed as unknown as CelProgram }
  } catch (err) {
    return { type: 'error', message: firstLine(err) }
  }
}

/**
 * Evaluates a condition. A missing field (`data.nope` on an event without it) is an error in
 * CEL; for a condition it means "does not apply", so it yields false with the reason.
 */
export function evaluateCondition(program: CelProgram, vars: Parameters<CelProgram>[0]): { value: boolean; error?: string } {
  try {
    const value = program(vars)
    if (typeof value !== 'boolean') return { value: false, error: `condition returned ${typeof value}, not bool` }
    return { value }
  } catch (err) {
    return { value: false, error: firstLine(err) }
  }
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0] ?? msg
}
