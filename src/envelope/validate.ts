import { Compile } from 'typebox/compile'
import type { Problem } from '../errors/mod.ts'
import { omniError } from '../errors/mod.ts'
import { EnvelopeSchema, type Envelope } from './schema.ts'

const envelopeValidator = Compile(EnvelopeSchema)

/** Minimal shape of the error objects TypeBox validators yield. */
interface SchemaError {
  instancePath: string
  message: string
  params?: Record<string, unknown>
}

/** Converts a JSON pointer (`/data/items/0`) to a JSON path (`$.data.items[0]`). */
export function pointerToPath(pointer: string, root = '$'): string {
  if (pointer === '') return root
  return pointer
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, seg) => (/^\d+$/.test(seg) ? `${path}[${seg}]` : /^[A-Za-z_$][\w$]*$/.test(seg) ? `${path}.${seg}` : `${path}[${JSON.stringify(seg)}]`), root)
}

/** Turns validator errors into problems with a JSON path each, one per distinct problem. */
export function schemaProblems(errors: Iterable<SchemaError>, root = '$'): Problem[] {
  const seen = new Set<string>()
  const problems: Problem[] = []
  for (const e of errors) {
    // "schema is false" duplicates the additionalProperties report with a better path
    if (e.message === 'schema is false') continue
    const where = pointerToPath(e.instancePath, root)
    const add = (at: string, message: string) => {
      const key = `${at}|${message}`
      if (seen.has(key)) return
      seen.add(key)
      problems.push({ where: at, message })
    }
    const extra = e.params?.['additionalProperties']
    const required = e.params?.['requiredProperties']
    if (Array.isArray(extra)) for (const name of extra) add(`${where}.${String(name)}`, 'is not allowed (unknown property)')
    else if (Array.isArray(required)) for (const name of required) add(`${where}.${String(name)}`, 'is required')
    else add(where, e.message)
  }
  return problems
}

/** Every problem with an envelope (schema only; data is checked against the catalog). */
export function envelopeProblems(value: unknown): Problem[] {
  if (envelopeValidator.Check(value)) return []
  return schemaProblems(envelopeValidator.Errors(value) as Iterable<SchemaError>)
}

/** Returns the value as an Envelope or throws OMNI_ERR_EVENT_INVALID naming every problem. */
export function assertEnvelope(value: unknown): Envelope {
  const problems = envelopeProblems(value)
  if (problems.length > 0) throw omniError('OMNI_ERR_EVENT_INVALID', 'invalid event envelope', { problems, permanent: true })
  return value as Envelope
}
