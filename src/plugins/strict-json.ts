import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { omniError, type OmniErrorCode } from '../errors/mod.ts'
import { fieldPath } from '../yaml/check.ts'
import { schemaIssues, type ValidatorError } from '../util/schema-errors.ts'

/**
 * Parses JSON text and rejects duplicate keys in any object, which `JSON.parse` silently resolves
 * to the last one: two readers could otherwise see two different documents in the same bytes.
 * The error names `source:line:col` of the repeated key.
 */
export function parseStrictJson(text: string, source: string, code: OmniErrorCode): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw omniError(code, `${source} is not valid JSON: ${(cause as Error).message}`, { cause })
  }
  const duplicate = findDuplicateKey(text)
  if (duplicate) {
    const where = `${source}:${lineCol(text, duplicate.at)}`
    throw omniError(code, `${where}: duplicate key "${duplicate.key}" in ${source}; each key may appear once`, {
      problems: [{ where, message: `duplicate key "${duplicate.key}"` }],
    })
  }
  return value
}

/** Scans text that `JSON.parse` accepted and returns the first key repeated within one object. */
function findDuplicateKey(text: string): { key: string; at: number } | undefined {
  // one set of keys per open object; arrays push undefined so `]` pops the right frame
  const stack: (Set<string> | undefined)[] = []
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '{') {
      stack.push(new Set())
      expectKey = true
    } else if (c === '[') {
      stack.push(undefined)
      expectKey = false
    } else if (c === '}' || c === ']') {
      stack.pop()
      expectKey = false
    } else if (c === ',') {
      expectKey = stack.at(-1) !== undefined
    } else if (c === '"') {
      const end = stringEnd(text, i)
      if (expectKey) {
        // decode escapes so "a" and "\u0061" count as the same key
        const key = JSON.parse(text.slice(i, end + 1)) as string
        const keys = stack.at(-1) as Set<string>
        if (keys.has(key)) return { key, at: i }
        keys.add(key)
        expectKey = false
      }
      i = end
    }
  }
  return undefined
}

/** Index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; ; i++) {
    if (text[i] === '\\') i++
    else if (text[i] === '"') return i
  }
}

function lineCol(text: string, index: number): string {
  const before = text.slice(0, index).split('\n')
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`
}

/** Strict JSON checked against a schema; the error names the first wrong field path and counts the rest. */
export function parseCheckedJson<T>(text: string, source: string, schema: TSchema, code: OmniErrorCode): T {
  const value = parseStrictJson(text, source, code)
  let validator = validators.get(schema)
  if (!validator) validators.set(schema, (validator = Compile(schema)))
  if (validator.Check(value)) return value as T
  const issues = schemaIssues(validator.Errors(value) as Iterable<ValidatorError>)
  const problems = issues.map((i) => ({ where: `${source}#${fieldPath(i.path) || '(root)'}`, message: i.message }))
  const first = problems[0]
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''
  throw omniError(code, `${source} is invalid: ${first ? `${first.where}: ${first.message}` : 'schema check failed'}${more}`, { problems })
}

const validators = new WeakMap<TSchema, ReturnType<typeof Compile>>()
