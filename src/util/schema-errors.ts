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
  // errors raised inside a union's branches, grouped by the union they belong to
  const branches = new Map<string, ValidatorError[]>()
  for (const e of list) {
    const union = unionOf(e)
    if (union) branches.set(union, [...(branches.get(union) ?? []), e])
  }
  const issues: SchemaIssue[] = []
  const seen = new Set<string>()
  const add = (path: PathSegment[], message: string) => {
    const key = `${JSON.stringify(path)}|${message}`
    if (seen.has(key)) return
    seen.add(key)
    issues.push({ path, message })
  }
  for (const e of list) {
    const at = pointerSegments(e.instancePath)
    const union = unionOf(e)
    if (union) {
      add(at, unionMessage(branches.get(union) ?? [e]))
      continue
    }
    // the union's own summary error adds nothing to its branches' report
    if ((e.keyword === 'anyOf' || e.keyword === 'oneOf') && branches.has(`${e.instancePath}|${e.schemaPath}/${e.keyword}`)) continue
    const extra = e.params?.['additionalProperties']
    const required = e.params?.['requiredProperties']
    if (Array.isArray(extra)) for (const name of extra) add([...at, String(name)], 'unknown field (not allowed here)')
    else if (Array.isArray(required)) for (const name of required) add([...at, String(name)], 'is required')
    else if (e.keyword === 'const') add(at, `must be ${JSON.stringify(e.params?.['allowedValue'])}`)
    else add(at, e.message)
  }
  return issues
}

/** `instancePath|schemaPath of the innermost union` when the error comes from a union branch at the same value. */
function unionOf(e: ValidatorError): string | undefined {
  const m = /^(.*\/(?:anyOf|oneOf))\/\d+$/.exec(e.schemaPath)
  return m ? `${e.instancePath}|${m[1]}` : undefined
}

function unionMessage(branches: readonly ValidatorError[]): string {
  if (branches.every((b) => b.keyword === 'const')) return `must be one of ${branches.map((b) => JSON.stringify(b.params?.['allowedValue'])).join(', ')}`
  return `matches none of the allowed forms (${[...new Set(branches.map((b) => b.message))].join('; ')})`
}
