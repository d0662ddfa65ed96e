// Event queries over omni_events, for `omni events query` and the HTTP API. Every value a caller
// gives travels as a typed query parameter; the SQL text is assembled only from the fixed
// fragments in this file, so no input can change the statement.
import { omniError, type Problem } from '../errors/mod.ts'
import type { ClickHouse } from './client.ts'
import { toClickHouseTime } from './time.ts'
import { clickHouseErrorType } from './failures.ts'
import type { EventRow, OutcomeRow, OutcomeStatus } from './rows.ts'

export interface EventFilter {
  readonly type?: string
  readonly tenant?: string
  readonly instance?: string
  readonly actor?: string
  readonly conversation?: string
  readonly subject?: string
  /** on the event's time, inclusive: `2026-11-22T04:00:00Z`, an offset, a date (UTC midnight) or a Date */
  readonly from?: string | Date
  /** on the event's time, exclusive */
  readonly to?: string | Date
  /** case-insensitive substring of the payload's JSON */
  readonly text?: string
  /** 1 to 1000, default 50 */
  readonly limit?: number
  /** `nextCursor` of the previous page */
  readonly cursor?: string
}

/** One row of omni_events as callers see it; fields the event did not carry are absent. */
export interface EventRecord {
  readonly id: string
  readonly type: string
  readonly source: string
  readonly subject: string
  /** ISO 8601 UTC, millisecond precision */
  readonly time: string
  readonly tenant: string
  readonly instance?: string
  readonly provider?: string
  readonly visibility: string
  readonly actor?: string
  readonly conversation?: string
  readonly correlationId?: string
  readonly causationId?: string
  readonly idempotencyKey: string
  readonly streamSeq: number
  /** the pipeline whose output this event is; absent for an ingested event */
  readonly emittedBy?: string
  /** pipelines loaded when it was recorded whose sources matched its subject */
  readonly pipelines: readonly string[]
  readonly payload: Record<string, unknown>
  readonly providerMeta: Record<string, unknown>
  readonly dataref?: string
  readonly recordedAt: string
}

export interface EventPage {
  readonly events: EventRecord[]
  /** present when more events match: pass it as `cursor` for the next (older) page */
  readonly nextCursor?: string
}

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 1000
const MAX_TEXT = 1024

/** Filters compared for equality: the key is both the filter field and the column. */
const EXACT = ['type', 'tenant', 'instance', 'actor', 'conversation', 'subject'] as const
const FIELDS: readonly string[] = [...EXACT, 'from', 'to', 'text', 'limit', 'cursor']

/** Where a page ends: the sort key of its last row (tenant last, so the key is unique). */
type Cursor = readonly [time: string, idempotencyKey: string, subject: string, tenant: string]

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
    if (typeof v !== 'string') bad(field, `must be a string, got ${describe(v)}`)
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

  let limit = DEFAULT_LIMIT
  const rawLimit = f['limit']
  if (rawLimit !== undefined) {
    if (typeof rawLimit !== 'number' || !Number.isInteger(rawLimit) || rawLimit < 1 || rawLimit > MAX_LIMIT) bad('limit', `must be a whole number from 1 to ${MAX_LIMIT}, got ${describe(rawLimit)}`)
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
  }
  compiled.add(result)
  return result
}

/** Events matching the filter, newest first, one page at a time. Reads with FINAL: one row per event. */
export async function queryEvents(ch: ClickHouse, filter: EventFilter | CompiledEventFilter): Promise<EventPage> {
  const f = compiled.has(filter as CompiledEventFilter) ? (filter as CompiledEventFilter) : compileEventFilter(filter)
  const where: string[] = []
  const params: Record<string, unknown> = {}
  for (const [key, value] of f.exact) {
    where.push(`${key} = {${key}:String}`)
    params[key] = value
  }
  if (f.from) {
    where.push(`time >= {from:DateTime64(3, 'UTC')}`)
    params['from'] = f.from
  }
  if (f.to) {
    where.push(`time < {to:DateTime64(3, 'UTC')}`)
    params['to'] = f.to
  }
  if (f.needles.length > 0) {
    // toString(payload) is the payload's JSON text; UTF8 so that `é` also finds `É`
    where.push(`(${f.needles.map((_, i) => `positionCaseInsensitiveUTF8(toString(payload), {text${i}:String}) > 0`).join(' OR ')})`)
    f.needles.forEach((n, i) => (params[`text${i}`] = n))
  }
  if (f.after) {
    // the tuple comparison is the page boundary; the plain bound on time lets the minmax index prune
    where.push(`time <= {c_time:DateTime64(3, 'UTC')}`)
    where.push(`(time, idempotency_key, subject, tenant) < ({c_time:DateTime64(3, 'UTC')}, {c_key:String}, {c_subject:String}, {c_tenant:String})`)
    const [time, key, subject, tenant] = f.after
    Object.assign(params, { c_time: time, c_key: key, c_subject: subject, c_tenant: tenant })
  }
  params['limit'] = f.limit + 1 // one more than asked tells whether another page exists
  const rows = await select<RawEvent>(
    ch,
    `SELECT ${EVENT_COLUMNS} FROM ${ch.table('omni_events')} FINAL${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
     ORDER BY time DESC, idempotency_key DESC, subject DESC, tenant DESC LIMIT {limit:UInt32}`,
    params,
  )
  const page = rows.slice(0, f.limit)
  const last = page.at(-1)
  const events = page.map(toEventRecord)
  return rows.length > f.limit && last ? { events, nextCursor: encodeCursor([last.time, last.idempotency_key, last.subject, last.tenant]) } : { events }
}

/** One stage outcome of an event, from omni_stage_outcomes. */
export interface ActionRecord {
  readonly pipeline: string
  readonly stage: string
  readonly uses: string
  readonly digest?: string
  readonly status: OutcomeStatus
  readonly durationMs: number
  readonly error?: string
  readonly attempt: number
  readonly streamSeq: number
  readonly recordedAt: string
}

export interface EventDetail {
  /** one row per subject the event was recorded under */
  readonly events: EventRecord[]
  /** by pipeline, then stream message, then stage */
  readonly actions: ActionRecord[]
}

/** An event by id with its stage outcomes; undefined when ClickHouse knows nothing of it. */
export async function getEvent(ch: ClickHouse, id: string, opts: { readonly tenant?: string } = {}): Promise<EventDetail | undefined> {
  const problems: Problem[] = []
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_TEXT) problems.push({ where: 'id', message: `must be a string of 1 to ${MAX_TEXT} characters` })
  if (opts.tenant !== undefined && (typeof opts.tenant !== 'string' || opts.tenant.length === 0)) problems.push({ where: 'tenant', message: 'must be a non-empty string' })
  if (problems.length > 0) throw omniError('OMNI_ERR_QUERY_INVALID', 'invalid event lookup', { problems })
  const params = opts.tenant === undefined ? { id } : { id, tenant: opts.tenant }
  const scope = opts.tenant === undefined ? '' : ' AND tenant = {tenant:String}'
  const [events, actions] = await Promise.all([
    select<RawEvent>(ch, `SELECT ${EVENT_COLUMNS} FROM ${ch.table('omni_events')} FINAL WHERE event_id = {id:String}${scope} ORDER BY time, subject`, params),
    select<RawAction>(
      ch,
      `SELECT pipeline, stage, uses, digest, toString(status) AS status, duration_ms, error, attempt, stream_seq, recorded_at
       FROM ${ch.table('omni_stage_outcomes')} FINAL WHERE event_id = {id:String}${scope} ORDER BY pipeline, stream_seq, stage`,
      params,
    ),
  ])
  if (events.length === 0 && actions.length === 0) return undefined
  return { events: events.map(toEventRecord), actions: actions.map(toActionRecord) }
}

const EVENT_COLUMNS = `event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation,
  correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, payload, provider_meta, dataref, recorded_at`

/** a row as SELECT returns it: 64-bit numbers may come back as strings */
type RawEvent = Omit<EventRow, 'stream_seq'> & { stream_seq: number | string }

type RawAction = Pick<OutcomeRow, 'pipeline' | 'stage' | 'uses' | 'digest' | 'status' | 'error' | 'recorded_at'> & {
  duration_ms: number | string
  attempt: number | string
  stream_seq: number | string
}

/** Runs a parameterized SELECT and returns its rows. */
export async function select<T>(ch: ClickHouse, query: string, params: Record<string, unknown>): Promise<T[]> {
  // a server quotes 64-bit integers in JSON by default (the embedded engine does not): ask for
  // numbers, so payload values keep their JSON type
  const settings = ch.config.target.type === 'server' ? { clickhouse_settings: { output_format_json_quote_64bit_integers: 0 as const } } : {}
  try {
    const rs = await ch.client.query({ query, query_params: params, format: 'JSONEachRow', ...settings })
    return await rs.json<T>()
  } catch (err) {
    const type = clickHouseErrorType(err)
    if (type === 'UNKNOWN_DATABASE' || type === 'UNKNOWN_TABLE') {
      throw omniError('OMNI_ERR_CLICKHOUSE_UNAVAILABLE', `no Omni Fabric tables in database ${ch.config.database} of the ${ch.description}: nothing was recorded there yet (\`omni up\` or \`omni migrate --apply\` creates them)`, { cause: err })
    }
    throw err
  }
}

/** `2026-11-22 04:00:00.123` (DateTime64(3) text, UTC) → `2026-11-22T04:00:00.123Z` */
export function isoTime(clickHouseTime: string): string {
  return `${clickHouseTime.replace(' ', 'T')}Z`
}

function toEventRecord(r: RawEvent): EventRecord {
  const opt = <K extends string>(key: K, value: string): { [P in K]?: string } => (value === '' ? {} : ({ [key]: value } as { [P in K]?: string }))
  return {
    id: r.event_id,
    type: r.type,
    source: r.source,
    subject: r.subject,
    time: isoTime(r.time),
    tenant: r.tenant,
    ...opt('instance', r.instance),
    ...opt('provider', r.provider),
    visibility: r.visibility,
    ...opt('actor', r.actor),
    ...opt('conversation', r.conversation),
    ...opt('correlationId', r.correlation_id),
    ...opt('causationId', r.causation_id),
    idempotencyKey: r.idempotency_key,
    streamSeq: Number(r.stream_seq),
    ...opt('emittedBy', r.emitted_by),
    pipelines: r.pipelines,
    payload: r.payload,
    providerMeta: r.provider_meta,
    ...opt('dataref', r.dataref),
    recordedAt: isoTime(r.recorded_at),
  }
}

function toActionRecord(r: RawAction): ActionRecord {
  return {
    pipeline: r.pipeline,
    stage: r.stage,
    uses: r.uses,
    ...(r.digest ? { digest: r.digest } : {}),
    status: r.status,
    durationMs: Number(r.duration_ms),
    ...(r.error ? { error: r.error } : {}),
    attempt: Number(r.attempt),
    streamSeq: Number(r.stream_seq),
    recordedAt: isoTime(r.recorded_at),
  }
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
    bad(`must be a UTC time such as 2026-11-22T04:00:00Z (or with an offset, +02:00, or a date), got ${describe(value)}`)
    return undefined
  }
  // the range DateTime64 can hold
  if (d.getUTCFullYear() < 1900 || d.getUTCFullYear() > 2299) {
    bad(`must be between the years 1900 and 2299, got ${describe(value)}`)
    return undefined
  }
  return d
}

function validDay(y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate()
}

/**
 * The text as it appears inside a JSON string in toString(payload): `"` → `\"`, `\` → `\\`,
 * control characters escaped, and `/` → `\/` (the engine's default; a server may be set not
 * to, so both forms). The raw text is not searched: a bare `"` or `\` would match the JSON's
 * own syntax in every payload.
 */
function needlesFor(text: string): string[] {
  const json = JSON.stringify(text).slice(1, -1)
  return [...new Set([json, json.replace(/\//g, '\\/')])]
}

function encodeCursor(c: Cursor): string {
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
  if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((x) => typeof x === 'string') || !CURSOR_TIME.test(parsed[0] as string)) return refuse()
  return parsed as unknown as Cursor
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)
  if (v instanceof Date) return 'an invalid Date'
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'number' ? String(v) : typeof v
}
