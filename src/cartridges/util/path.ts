import type { PathSegment } from '../../yaml/yaml.ts'
import { ConfigProblem } from '../../pipeline/stage.ts'

/** Dotted paths into event data: `text`, `contact.phone`. Plain objects only; arrays are leaves. */
export type DataPath = readonly string[]

// Segments that would reach an object's prototype when used as a property name.
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor'])

/** Splits and checks a dotted path from a stage's `with`; a bad one is a ConfigProblem at `at`. */
export function parsePath(path: string, at: readonly PathSegment[]): DataPath {
  const segments = path.split('.')
  for (const s of segments) {
    if (s === '') throw new ConfigProblem(at, `"${path}" is not a dotted path: it has an empty segment`)
    if (FORBIDDEN.has(s)) throw new ConfigProblem(at, `"${path}" uses the reserved name "${s}"`)
  }
  return segments
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The value at `path`, or undefined when some step is missing or not a plain object. */
export function getIn(obj: Readonly<Record<string, unknown>>, path: DataPath): unknown {
  let cur: unknown = obj
  for (const s of path) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, s)) return undefined
    cur = cur[s]
  }
  return cur
}

/** True when every step of `path` exists (the value itself may be null or undefined). */
export function hasIn(obj: Readonly<Record<string, unknown>>, path: DataPath): boolean {
  let cur: unknown = obj
  for (const s of path) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, s)) return false
    cur = cur[s]
  }
  return true
}

/**
 * A copy of `obj` with `value` at `path`; only the objects along the path are copied, the rest
 * is shared. Missing steps, and steps that are not plain objects, become new objects.
 */
export function setIn(obj: Readonly<Record<string, unknown>>, path: DataPath, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path
  if (head === undefined) throw new Error('setIn needs a non-empty path')
  const copy: Record<string, unknown> = { ...obj }
  if (rest.length === 0) {
    copy[head] = value
  } else {
    const child = Object.hasOwn(obj, head) ? obj[head] : undefined
    copy[head] = setIn(isPlainObject(child) ? child : {}, rest, value)
  }
  return copy
}
