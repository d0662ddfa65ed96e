import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Problem } from '../errors/mod.ts'
import { schemaIssues, type ValidatorError } from '../util/schema-errors.ts'
import type { PathSegment, YamlManifest } from './yaml.ts'

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
  const problems = schemaIssues(validator.Errors(value) as Iterable<ValidatorError>).map((i) => problemAt(manifest, [...base, ...i.path], i.message))
  return problems
}
