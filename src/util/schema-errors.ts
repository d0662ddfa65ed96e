/** The error objects TypeBox validators yield (Ajv-compatible). */
export interface ValidatorError {
  readonly keyword: string
  readonly schemaPath: string
  readonly instancePath: string
  readonly message: string
  readonly params?: Record<string, unknown>
}

export type PathSegment = string | number

/** One readable problem: where in the value, and what is wrong there. */
export interface SchemaIssue {
  readonly path: PathSegment[]
  readonly message: string
}

/** Converts a JSON pointer from a validator into path segments. */
export function pointerSegments(pointer: string): PathSegment[] {
  if (pointer === '') return []
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

/**
 * Turns raw validator errors into one issue per real problem: unknown and missing properties
 * each get their own path, a failed union of constants reads "must be one of a, b", and the
 * branch-by-branch noise of unions is folded away.
 */
export function schemaIssues(errors: Iterable<ValidatorError>): SchemaIssue[] {
  const list = [...errors].filter((e) => e.message !== 'schema is false')
  const unions = list.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
  const inUnion = (e: ValidatorError) => unions.some((u) => u !== e && e.schemaPath.startsWith(`${u.schemaPath}/${u.keyword}/`))
  const issues: SchemaIssue[] = []
  const seen = new Set<string>()
  const add = (path: PathSegment[], message: string) => {
    const key = `${JSON.stringify(path)}|${message}`
    if (seen.has(key)) return
    seen.add(key)
    issues.push({ path, message })
  }
  for (const e of list) {
    if (inUnion(e)) continue
    const at = pointerSegments(e.instancePath)
    const extra = e.params?.['additionalProperties']
    const required = e.params?.['requiredProperties']
    if (Array.isArray(extra)) for (const name of extra) add([...at, String(name)], 'unknown field (not allowed here)')
    else if (Array.isArray(required)) for (const name of required) add([...at, String(name)], 'is required')
    else if (e.keyword === 'const') add(at, `must be ${JSON.stringify(e.params?.['allowedValue'])}`)
    else if (e.keyword === 'anyOf' || e.keyword === 'oneOf') add(at, unionMessage(e, list))
    else add(at, e.message)
  }
  return issues
}

function unionMessage(union: ValidatorError, all: readonly ValidatorError[]): string {
  const branches = all.filter((e) => e.schemaPath.startsWith(`${union.schemaPath}/${union.keyword}/`) && e.instancePath === union.instancePath)
  if (branches.length > 0 && branches.every((b) => b.keyword === 'const')) {
    return `must be one of ${branches.map((b) => JSON.stringify(b.params?.['allowedValue'])).join(', ')}`
  }
  const reasons = [...new Set(branches.map((b) => b.message))]
  return reasons.length > 0 ? `matches none of the allowed forms (${reasons.join('; ')})` : union.message
}
