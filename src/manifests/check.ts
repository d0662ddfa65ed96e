import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Problem } from '../errors/mod.ts'
import { pointerSegments, type PathSegment, type YamlManifest } from './yaml.ts'

interface ValidatorError {
  instancePath: string
  message: string
  params?: Record<string, unknown>
}

/** Renders path segments as a readable field path: `stages[2].with.rules[0].when`. */
export function fieldPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '')
}

/** A problem at a path inside a manifest: located to file:line:col, message names the field. */
export function problemAt(manifest: YamlManifest, path: readonly PathSegment[], message: string): Problem {
  const field = fieldPath(path)
  return { where: manifest.locate(path), message: field === '' ? message : `${field}: ${message}` }
}

const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>()

/**
 * Checks `value` (found at `base` inside the manifest) against a schema and returns every
 * problem, each located in the file and naming the field path.
 */
export function checkAgainstSchema(
  manifest: YamlManifest,
  schema: TSchema,
  value: unknown,
  base: readonly PathSegment[] = [],
): Problem[] {
  let validator = compiled.get(schema)
  if (!validator) {
    validator = Compile(schema)
    compiled.set(schema, validator)
  }
  if (validator.Check(value)) return []
  const problems: Problem[] = []
  const seen = new Set<string>()
  const add = (path: PathSegment[], message: string) => {
    const p = problemAt(manifest, path, message)
    const key = `${p.where}|${p.message}`
    if (!seen.has(key)) {
      seen.add(key)
      problems.push(p)
    }
  }
  for (const e of validator.Errors(value) as Iterable<ValidatorError>) {
    if (e.message === 'schema is false') continue
    const at = [...base, ...pointerSegments(e.instancePath)]
    const extra = e.params?.['additionalProperties']
    const required = e.params?.['requiredProperties']
    if (Array.isArray(extra)) for (const name of extra) add([...at, String(name)], 'unknown field (not allowed here)')
    else if (Array.isArray(required)) for (const name of required) add([...at, String(name)], 'is required')
    else add(at, e.message)
  }
  return problems
}
