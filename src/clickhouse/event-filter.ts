// An event query's filters checked and turned into what the SQL takes, and the page cursor.
// Every problem is reported at once, by field name, for the CLI's flags and the API's query alike.
import { omniError, type Problem } from '../errors/mod.ts'
import { DEFAULT_LIMIT, EventQuerySchema, MAX_LIMIT, MAX_TEXT } from './query-schema.ts'
import { toClickHouseTime } from './time.ts'

/** Filters compared for equality: the key is the filter field, and the column unless EXACT_COLUMNS names another. */
const EXACT = ['type', 'tenant', 'instance', 'actor', 'conversation', 'subject', 'originNode'] as const
const EXACT_COLUMNS: Partial<Record<(typeof EXACT)[number], string>> = { originNode: 'origin_node' }
/** The omni_events column an exact filter compares. */
export const exactColumn = (key: (typeof EXACT)[number]): string => EXACT_COLUMNS[key] ?? key
const FIELDS: readonly string[] = Object.keys(EventQuerySchema.properties)

/**
 * Where a page ends: the sort key of its last row (tenant and origin last, so the key is
 * unique). A cursor of four, from before rows had an origin, reads as origin '': nothing sorts
 * below it, so the page goes on after every row at that position, as it did when a position
 * was one row.
 */
export type Cursor = readonly [time: string, idempotencyKey: string, subject: string, tenant: string, origin: string]

/** A filter checked and converted to what the SQL takes. */
export interface CompiledEventFilter {
  readonly exact: ReadonlyMap<(typeof EXACT)[number], string>
  /** DateTime64(3) text */
  readonly from?: string
  readonly to?: string
  /** the text as it appears inside the payload's JSON text (see needlesFor) */
  readonly needles: readonly string[]
  readonly limit: number
  readonly after?: Cursor
  /** a label a stage set, and the value it must have when one is given */
  readonly label?: { readonly key: string; readonly value?: string }
}

/** Filters made by compileEventFilter: only those skip the checks, whatever else has their shape. */
const compiled = new WeakSet<CompiledEventFilter>()

/** Checks a filter and reports every bad field at once (OMNI_ERR_QUERY_INVALID). */
export function compileEventFilter(input: unknown): CompiledEventFilter {
  const problems: Problem[] = []
  const bad = (field: string, message: string) => problems.push({ where: `filter.${field}`, message })
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw omniError('OMNI_ERR_QUERY_INVALID', 'invalid event query', { problems: [{ where: 'filter', message: 'must be an object' }] })
  }
  const f = input as Record<string, unknown>
  for (const key of Object.keys(f)) if (!FIELDS.includes(key)) bad(key, `unknown filter field; expected one of ${FIELDS.join(', ')}`)

  const text = (field: string): string | undefined => {
    const v = f[field]
    if (v === undefined) return undefined
    if (typeof v !== 'string') bad(field, `must be a string, got ${describeValue(v)}`)
    else if (v.length === 0) bad(field, 'must not be empty')
    else if (v.length > MAX_TEXT) bad(field, `must be at most ${MAX_TEXT} characters, got ${v.length}`)
    else return v
    return undefined
  }
  const exact = new Map<(typeof EXACT)[number], string>()
  for (const key of EXACT) {
    const v = text(key)
    if (v !== undefined) exact.set(key, v)
  }
  const from = time(f['from'], (m) => bad('from', m))
  const to = time(f['to'], (m) => bad('to', m))
  if (from && to && to <= from) bad('to', `must be later than filter.from (${from.toISOString()}), got ${to.toISOString()}`)
  const search = text('text')
  const labelText = text('label')
  const at = labelText === undefined ? -1 : labelText.indexOf('=')
  const label = labelText === undefined ? undefined : at < 0 ? { key: labelText } : { key: labelText.slice(0, at), value: labelText.slice(at + 1) }
  // a dotted name reaches inside an object label (enriched.plan); each part travels as a parameter
  if (label && !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,7}$/.test(label.key)) bad('label', `must be name or name=value with a label name (letters, digits, _; dotted for a nested one, at most 8 parts), got ${JSON.stringify(labelText)}`)

  let limit = DEFAULT_LIMIT
  const rawLimit = f['limit']
  if (rawLimit !== undefined) {
    if (typeof rawLimit !== 'number' || !Number.isInteger(rawLimit) || rawLimit < 1 || rawLimit > MAX_LIMIT) bad('limit', `must be a whole number from 1 to ${MAX_LIMIT}, got ${describeValue(rawLimit)}`)
    else limit = rawLimit
  }
  const after = f['cursor'] === undefined ? undefined : decodeCursor(f['cursor'], (m) => bad('cursor', m))

  if (problems.length > 0) throw omniError('OMNI_ERR_QUERY_INVALID', 'invalid event query', { problems })
  const result: CompiledEventFilter = {
    exact,
    ...(from ? { from: toClickHouseTime(from) } : {}),
    ...(to ? { to: toClickHouseTime(to) } : {}),
    needles: search === undefined ? [] : needlesFor(search),
    limit,
    ...(after ? { after } : {}),
    ...(label ? { label } : {}),
  }
  compiled.add(result)
  return result
}

/** Whether `f` came from compileEventFilter (and so needs no second check). */
export function isCompiledEventFilter(f: unknown): f is CompiledEventFilter {
  return compiled.has(f as CompiledEventFilter)
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/** A time filter as a Date; a local time without a zone is refused as ambiguous. */
function time(value: unknown, bad: (message: string) => void): Date | undefined {
  if (value === undefined) return undefined
  let d: Date | undefined
  if (value instanceof Date) d = Number.isNaN(value.getTime()) ? undefined : value
  else if (typeof value === 'string') {
    const m = TIME.exec(value)
    // Date accepts 2026-02-30 as 2 March, so the calendar date is checked on its own
    if (m && validDay(Number(m[1]), Number(m[2]), Number(m[3])) && Number(m[4] ?? 0) < 24 && Number(m[5] ?? 0) < 60 && Number(m[6] ?? 0) < 60) d = new Date(value)
  }
  if (!d || Number.isNaN(d.getTime())) {
    bad(`must be a UTC time such as 2026-11-22T04:00:00Z (or with an offset, +02:00, or a date), got ${describeValue(value)}`)
    return undefined
  }
  // the range DateTime64 can hold
  if (d.getUTCFullYear() < 1900 || d.getUTCFullYear() > 2299) {
    bad(`must be between the years 1900 and 2299, got ${describeValue(value)}`)
    return undefined
  }
  return d
}

function validDay(y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate()
}

/**
 * The text as it appears inside a JSON string in the payload column's text. Rows Omni Fabric
 * writes hold JSON.stringify's text: `"` → `\"`, `\` → `\\`, control characters escaped, `/`
 * and non-ASCII as they are. Rows copied from the JSON column (migrations 12–16) hold the
 * engine's toString, which also writes U+2028/U+2029 as `\u2028`/`\u2029` (and hex digits in
 * capitals, which the case-insensitive search ignores): that form is a needle too. The raw text
 * is not searched: a bare `"` or `\` would match the JSON's own syntax in every payload.
 */
export function needlesFor(text: string): string[] {
  const json = JSON.stringify(text).slice(1, -1)
  return [...new Set([json, json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')])]
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/

function decodeCursor(value: unknown, bad: (message: string) => void): Cursor | undefined {
  const refuse = () => {
    bad('is not a cursor this query returned (pass nextCursor unchanged)')
    return undefined
  }
  if (typeof value !== 'string' || value.length === 0 || value.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(value)) return refuse()
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
  } catch {
    return refuse()
  }
  if (!Array.isArray(parsed) || (parsed.length !== 4 && parsed.length !== 5) || !parsed.every((x) => typeof x === 'string') || !CURSOR_TIME.test(parsed[0] as string)) return refuse()
  const [time, key, subject, tenant, origin = ''] = parsed as string[]
  return [time as string, key as string, subject as string, tenant as string, origin]
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)
  if (v instanceof Date) return 'an invalid Date'
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'number' ? String(v) : typeof v
}
