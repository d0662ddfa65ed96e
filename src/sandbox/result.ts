import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { envelopeProblems, schemaProblems } from '../envelope/validate.ts'
import type { ValidatorError } from '../util/schema-errors.ts'
import type { FailureKind, PluginOutput } from './types.ts'

const Json = Type.Record(Type.String(), Type.Unknown())

const RawResult = Type.Union([
  Type.Object(
    {
      type: Type.Literal('continue'),
      data: Type.Optional(Json),
      labels: Type.Optional(Json),
      emit: Type.Optional(Type.Array(Type.Object({ subject: Type.String({ minLength: 1 }), event: Type.Unknown() }, { additionalProperties: false }), { maxItems: 64 })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('drop'), reason: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
])
const rawResult = Compile(RawResult)

/** The message of something thrown, also when it is an Error of another realm (a vm context). */
export function thrownMessage(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined
  return typeof message === 'string' ? message : String(err)
}

/** A per-event failure output. */
export function failure(kind: FailureKind, message: string): PluginOutput {
  return { type: 'error', kind, message: message.slice(0, 2000) }
}

/**
 * Checks what a plugin returned for one event, on the host side: nothing that crossed the
 * boundary is trusted. `undefined`/`null` means "continue unchanged"; every emitted event must
 * be a valid envelope. A bad shape becomes an `invalid-result` failure naming the problem.
 */
export function checkOutput(raw: unknown): PluginOutput {
  if (raw === undefined || raw === null) return { type: 'continue' }
  if (!rawResult.Check(raw)) {
    const problems = schemaProblems(rawResult.Errors(raw) as Iterable<ValidatorError>, '$result')
    return failure('invalid-result', `invalid result: ${problems.map((p) => `${p.where}: ${p.message}`).join('; ')}`)
  }
  const result = raw as PluginOutput
  if (result.type === 'continue' && result.emit) {
    for (const [i, e] of result.emit.entries()) {
      const problems = envelopeProblems(e.event)
      if (problems.length > 0) return failure('invalid-result', `invalid result: $result.emit[${i}].event: ${problems.map((p) => `${p.where}: ${p.message}`).join('; ')}`)
    }
  }
  return result
}
