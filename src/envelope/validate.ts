import { Compile } from 'typebox/compile'
import type { Problem } from '../errors/mod.ts'
import { omniError } from '../errors/mod.ts'
import { pointerSegments, schemaIssues, type PathSegment, type ValidatorError } from '../util/schema-errors.ts'
import { EnvelopeSchema, type Envelope } from './schema.ts'

const envelopeValidator = Compile(EnvelopeSchema)

/** Converts a JSON pointer (`/data/items/0`) to a JSON path (`$.data.items[0]`). */
export function pointerToPath(pointer: string, root = '$'): string {
  return segmentsToPath(pointerSegments(pointer), root)
}

function segmentsToPath(path: readonly PathSegment[], root: string): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : /^[A-Za-z_$][\w$]*$/.test(seg) ? `${acc}.${seg}` : `${acc}[${JSON.stringify(seg)}]`),
    root,
  )
}

/** Turns validator errors into problems with a JSON path each, one per distinct problem. */
export function schemaProblems(errors: Iterable<ValidatorError>, root = '$'): Problem[] {
  return schemaIssues(errors).map((i) => ({ where: segmentsToPath(i.path, root), message: i.message }))
}

/** Every problem with an envelope (schema only; data is checked against the catalog). */
export function envelopeProblems(value: unknown): Problem[] {
  if (envelopeValidator.Check(value)) return []
  return schemaProblems(envelopeValidator.Errors(value) as Iterable<ValidatorError>)
}

/** Returns the value as an Envelope or throws OMNI_ERR_EVENT_INVALID naming every problem. */
export function assertEnvelope(value: unknown): Envelope {
  const problems = envelopeProblems(value)
  if (problems.length > 0) throw omniError('OMNI_ERR_EVENT_INVALID', 'invalid event envelope', { problems, permanent: true })
  return value as Envelope
}
