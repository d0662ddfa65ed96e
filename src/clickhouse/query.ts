// Event queries over omni_events and omni_stage_outcomes, for `omni events query` and the HTTP
// API. Every value a caller gives travels as a typed query parameter; the SQL text is assembled
// only from the fixed fragments in this file, so no input can change the statement. The filters
// and records are the contracts in query-schema.ts; event-filter.ts checks the filters.
import type { TenantScope } from '../envelope/tenants.ts'
import { omniError, type Problem } from '../errors/mod.ts'
import type { ClickHouse } from './client.ts'
import { compileEventFilter, exactColumn, encodeCursor, isCompiledEventFilter, type CompiledEventFilter } from './event-filter.ts'
import { clickHouseErrorType } from './failures.ts'
import { MAX_TEXT, type EventDetail, type EventFilter, type EventPage, type EventRecord, type OutcomeRecord } from './query-schema.ts'
import type { EventRow, OutcomeRow } from './rows.ts'

/** Events matching the filter, newest first, one page at a time. Reads with FINAL: one row per event. */
export async function queryEvents(ch: ClickHouse, filter: EventFilter | CompiledEventFilter, tenants?: TenantScope): Promise<EventPage> {
  const f = isCompiledEventFilter(filter) ? filter : compileEventFilter(filter)
  const where: string[] = []
  const params: Record<string, unknown> = {}
  tenantCondition(tenants, where, params)
  for (const [key, value] of f.exact) {
    where.push(`${exactColumn(key)} = {${key}:String}`)
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
    // the column holds the payload's JSON text (migrations 12–16); UTF8 so that `é` also finds `É`
    where.push(`(${f.needles.map((_, i) => `positionCaseInsensitiveUTF8(payload, {text${i}:String}) > 0`).join(' OR ')})`)
    f.needles.forEach((n, i) => (params[`text${i}`] = n))
  }
  if (f.label) {
    // events a pipeline stage labelled so: a string label equal to the value, a list (tags)
    // holding it, or a number or boolean written so; with no value, any stage that set the label
    const parts = f.label.key.split('.')
    const keys = parts.map((_, i) => `{label_key${i}:String}`).join(', ')
    const value = f.label.value === undefined ? '' : ` AND (JSONExtractString(labels, ${keys}) = {label_value:String}
      OR has(JSONExtract(labels, ${keys}, 'Array(String)'), {label_value:String}) OR JSONExtractRaw(labels, ${keys}) = {label_value:String})`
    // per origin too: a label set on a client's event must not find a webhook message with its key
    where.push(`(tenant, idempotency_key, origin) IN (SELECT tenant, idempotency_key, origin FROM ${ch.table('omni_stage_outcomes')} FINAL WHERE JSONHas(labels, ${keys})${value})`)
    parts.forEach((p, i) => (params[`label_key${i}`] = p))
    if (f.label.value !== undefined) params['label_value'] = f.label.value
  }
  if (f.after) {
    // the tuple comparison is the page boundary; the plain bound on time lets the minmax index prune
    where.push(`time <= {c_time:DateTime64(3, 'UTC')}`)
    where.push(`(time, idempotency_key, subject, tenant, origin) < ({c_time:DateTime64(3, 'UTC')}, {c_key:String}, {c_subject:String}, {c_tenant:String}, {c_origin:String})`)
    const [time, key, subject, tenant, origin] = f.after
    Object.assign(params, { c_time: time, c_key: key, c_subject: subject, c_tenant: tenant, c_origin: origin })
  }
  params['limit'] = f.limit + 1 // one more than asked tells whether another page exists
  const rows = await select<RawEvent>(
    ch,
    `SELECT ${EVENT_COLUMNS} FROM ${ch.table('omni_events')} FINAL${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
     ORDER BY time DESC, idempotency_key DESC, subject DESC, tenant DESC, origin DESC LIMIT {limit:UInt32}`,
    params,
  )
  const page = rows.slice(0, f.limit)
  const last = page.at(-1)
  const events = page.map(toEventRecord)
  return rows.length > f.limit && last ? { events, nextCursor: encodeCursor([last.time, last.idempotency_key, last.subject, last.tenant, last.origin]) } : { events }
}

/** An event by id with its stage outcomes; undefined when ClickHouse knows nothing of it. */
export async function getEvent(ch: ClickHouse, id: string, opts: { readonly tenant?: string; readonly tenants?: TenantScope } = {}): Promise<EventDetail | undefined> {
  const problems: Problem[] = []
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_TEXT) problems.push({ where: 'id', message: `must be a string of 1 to ${MAX_TEXT} characters` })
  if (opts.tenant !== undefined && (typeof opts.tenant !== 'string' || opts.tenant.length === 0)) problems.push({ where: 'tenant', message: 'must be a non-empty string' })
  if (problems.length > 0) throw omniError('OMNI_ERR_QUERY_INVALID', 'invalid event lookup', { problems })
  const params: Record<string, unknown> = opts.tenant === undefined ? { id } : { id, tenant: opts.tenant }
  const conditions: string[] = opts.tenant === undefined ? [] : ['tenant = {tenant:String}']
  tenantCondition(opts.tenants, conditions, params)
  const scope = conditions.map((c) => ` AND ${c}`).join('')
  const [events, outcomes] = await Promise.all([
    select<RawEvent>(ch, `SELECT ${EVENT_COLUMNS} FROM ${ch.table('omni_events')} FINAL WHERE event_id = {id:String}${scope} ORDER BY time, subject, origin`, params),
    select<RawOutcome>(
      ch,
      `SELECT pipeline, stage, uses, digest, toString(status) AS status, duration_ms, error, attempt, stream_seq, recorded_at, labels
       FROM ${ch.table('omni_stage_outcomes')} FINAL WHERE event_id = {id:String}${scope} ORDER BY pipeline, stream_seq, stage`,
      params,
    ),
  ])
  if (events.length === 0 && outcomes.length === 0) return undefined
  return { events: events.map(toEventRecord), outcomes: outcomes.map(toOutcomeRecord) }
}

/**
 * Limits a query to the caller's tenants (every tenant when the scope is undefined). Beside
 * any `tenant` filter the caller gave, so asking for another tenant finds nothing.
 */
export function tenantCondition(tenants: TenantScope, where: string[], params: Record<string, unknown>): void {
  if (tenants === undefined) return
  where.push('tenant IN {scope_tenants:Array(String)}')
  params['scope_tenants'] = [...tenants]
}

const EVENT_COLUMNS = `event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation,
  correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, payload, provider_meta, dataref, recorded_at, origin, origin_node`

/** a row as SELECT returns it: 64-bit numbers may come back as strings, payloads as their JSON text */
type RawEvent = Omit<EventRow, 'stream_seq' | 'payload' | 'provider_meta'> & { stream_seq: number | string; payload: string; provider_meta: string }

type RawOutcome = Pick<OutcomeRow, 'pipeline' | 'stage' | 'uses' | 'digest' | 'status' | 'error' | 'recorded_at' | 'labels'> & {
  duration_ms: number | string
  attempt: number | string
  stream_seq: number | string
}

/** Runs a parameterized SELECT and returns its rows. */
export async function select<T>(ch: ClickHouse, query: string, params: Record<string, unknown>): Promise<T[]> {
  // servers before 25.8 quote 64-bit integers in JSON output by default (the embedded engine
  // does not): ask for numbers, so counts and sequence numbers come back as numbers (payloads are
  // text columns now, parsed here, and keep whatever JSON.stringify wrote)
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
  const payload = objectOf(r.payload)
  const providerMeta = objectOf(r.provider_meta)
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
    pipelines: [...r.pipelines],
    payload: payload ?? {},
    providerMeta: providerMeta ?? {},
    ...(payload && providerMeta ? {} : { unreadable: { ...(payload ? {} : { payload: r.payload }), ...(providerMeta ? {} : { providerMeta: r.provider_meta }) } }),
    ...opt('dataref', r.dataref),
    recordedAt: isoTime(r.recorded_at),
    origin: r.origin,
    ...opt('originNode', r.origin_node),
  }
}

function toOutcomeRecord(r: RawOutcome): OutcomeRecord {
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
    ...labelsOf(r.labels),
  }
}

/** A payload column's JSON text as an object; undefined when the text is not one. */
function objectOf(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The stage's labels, absent when it set none. */
function labelsOf(text: string): { labels?: Record<string, unknown> } {
  if (!text || text === '{}') return {}
  try {
    const v = JSON.parse(text) as unknown
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? { labels: v as Record<string, unknown> } : {}
  } catch {
    return {}
  }
}
