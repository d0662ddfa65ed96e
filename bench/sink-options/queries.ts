// The API's read queries (src/clickhouse/query.ts, observed.ts), written for each layout. The SQL
// is the product's, with two things a layout changes: the payload text that `text` searches, and
// where stage outcomes live (a row per stage, or arrays in a row per pipeline run). Each answer
// is reduced to a canonical form, so the same question can be checked equal across layouts.
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { compileEventFilter, encodeCursor, exactColumn } from '../../src/clickhouse/event-filter.ts'
import { observedCatalog } from '../../src/clickhouse/observed.ts'
import { getEvent, queryEvents, select } from '../../src/clickhouse/query.ts'
import type { EventFilter, EventRecord, OutcomeRecord } from '../../src/clickhouse/query-schema.ts'
import { decodePayload, OUTCOME_TABLE, payloadText, type Layout } from './layouts.ts'

/** An event as the comparison sees it: identity, placement and the payload as an object. */
export interface AnswerEvent {
  readonly id: string
  readonly subject: string
  readonly time: string
  readonly tenant: string
  readonly origin: string
  readonly payload: Record<string, unknown>
  readonly providerMeta: Record<string, unknown>
}

export interface AnswerOutcome {
  readonly pipeline: string
  readonly stage: string
  readonly status: string
  readonly attempt: number
  readonly streamSeq: number
  readonly labels: Record<string, unknown>
}

export type Answer =
  | { readonly type: 'page'; readonly events: readonly AnswerEvent[]; readonly nextCursor?: string }
  | { readonly type: 'event'; readonly events: readonly AnswerEvent[]; readonly outcomes: readonly AnswerOutcome[] }
  | { readonly type: 'rows'; readonly rows: readonly unknown[] }

// the product's column list (query.ts), so a page reads what the API's reads
const EVENT_COLUMNS = `event_id, type, source, subject, time, tenant, instance, provider, visibility, actor, conversation,
  correlation_id, causation_id, idempotency_key, stream_seq, emitted_by, pipelines, payload, provider_meta, dataref, recorded_at, origin, origin_node`

interface RawEvent {
  event_id: string
  subject: string
  time: string
  tenant: string
  idempotency_key: string
  origin: string
  payload: unknown
  provider_meta: unknown
}

function answerEvent(layout: Layout, r: RawEvent): AnswerEvent {
  return { id: r.event_id, subject: r.subject, time: r.time, tenant: r.tenant, origin: r.origin, payload: decodePayload(layout, r.payload), providerMeta: decodePayload(layout, r.provider_meta) }
}

/** queryEvents of query.ts on a layout: the same filters, order, keyset page and cursor. */
export async function queryEventsOn(layout: Layout, ch: ClickHouse, filter: EventFilter): Promise<Answer> {
  const f = compileEventFilter(filter)
  const where: string[] = []
  const params: Record<string, unknown> = {}
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
    where.push(`(${f.needles.map((_, i) => `positionCaseInsensitiveUTF8(${payloadText(layout)}, {text${i}:String}) > 0`).join(' OR ')})`)
    f.needles.forEach((n, i) => (params[`text${i}`] = n))
  }
  if (f.label) {
    const parts = f.label.key.split('.')
    const keys = parts.map((_, i) => `{label_key${i}:String}`).join(', ')
    const matches = (l: string) =>
      `JSONHas(${l}, ${keys})` +
      (f.label?.value === undefined
        ? ''
        : ` AND (JSONExtractString(${l}, ${keys}) = {label_value:String} OR has(JSONExtract(${l}, ${keys}, 'Array(String)'), {label_value:String}) OR JSONExtractRaw(${l}, ${keys}) = {label_value:String})`)
    const table = `${ch.config.database}.${OUTCOME_TABLE[layout.outcomes]}`
    const condition = layout.outcomes === 'stages' ? matches('labels') : `arrayExists(l -> ${matches('l')}, outcomes.labels)`
    where.push(`(tenant, idempotency_key, origin) IN (SELECT tenant, idempotency_key, origin FROM ${table} FINAL WHERE ${condition})`)
    parts.forEach((p, i) => (params[`label_key${i}`] = p))
    if (f.label.value !== undefined) params['label_value'] = f.label.value
  }
  if (f.after) {
    where.push(`time <= {c_time:DateTime64(3, 'UTC')}`)
    where.push(`(time, idempotency_key, subject, tenant, origin) < ({c_time:DateTime64(3, 'UTC')}, {c_key:String}, {c_subject:String}, {c_tenant:String}, {c_origin:String})`)
    const [time, key, subject, tenant, origin] = f.after
    Object.assign(params, { c_time: time, c_key: key, c_subject: subject, c_tenant: tenant, c_origin: origin })
  }
  params['limit'] = f.limit + 1
  const rows = await select<RawEvent>(
    ch,
    `SELECT ${EVENT_COLUMNS} FROM ${ch.table('omni_events')} FINAL${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
     ORDER BY time DESC, idempotency_key DESC, subject DESC, tenant DESC, origin DESC LIMIT {limit:UInt32}`,
    params,
  )
  const page = rows.slice(0, f.limit)
  const last = page.at(-1)
  const events = page.map((r) => answerEvent(layout, r))
  return rows.length > f.limit && last ? { type: 'page', events, nextCursor: encodeCursor([last.time, last.idempotency_key, last.subject, last.tenant, last.origin]) } : { type: 'page', events }
}

interface RawOutcome {
  pipeline: string
  stage: string
  status: string
  attempt: number | string
  stream_seq: number | string
  labels: string
}

/** getEvent of query.ts on a layout: the event's rows and its stage outcomes. */
export async function getEventOn(layout: Layout, ch: ClickHouse, id: string): Promise<Answer> {
  const outcomesSql =
    layout.outcomes === 'stages'
      ? `SELECT pipeline, stage, uses, digest, toString(status) AS status, duration_ms, error, attempt, stream_seq, recorded_at, labels
         FROM ${ch.table('omni_stage_outcomes')} FINAL WHERE event_id = {id:String} ORDER BY pipeline, stream_seq, stage`
      : `SELECT pipeline, o.stage AS stage, o.uses AS uses, o.digest AS digest, toString(o.status) AS status, o.duration_ms AS duration_ms, o.error AS error,
           attempt, stream_seq, recorded_at, o.labels AS labels
         FROM ${ch.config.database}.${OUTCOME_TABLE.runs} FINAL ARRAY JOIN outcomes AS o
         WHERE event_id = {id:String} ORDER BY pipeline, stream_seq, stage`
  const [events, outcomes] = await Promise.all([
    select<RawEvent>(ch, `SELECT ${EVENT_COLUMNS} FROM ${ch.table('omni_events')} FINAL WHERE event_id = {id:String} ORDER BY time, subject, origin`, { id }),
    select<RawOutcome>(ch, outcomesSql, { id }),
  ])
  return {
    type: 'event',
    events: events.map((r) => answerEvent(layout, r)),
    outcomes: outcomes.map((o) => ({ pipeline: o.pipeline, stage: o.stage, status: o.status, attempt: Number(o.attempt), streamSeq: Number(o.stream_seq), labels: JSON.parse(o.labels) as Record<string, unknown> })),
  }
}

/** observedCatalog of observed.ts: it reads only typed columns, so it runs unchanged on every layout. */
export async function observedOn(ch: ClickHouse): Promise<Answer> {
  const { observed } = await observedCatalog(ch, {}, [])
  return { type: 'rows', rows: observed }
}

// ---- the product's own functions, on the layout they were written for (a check of the above)

function fromRecord(r: EventRecord): AnswerEvent {
  const time = r.time.replace('T', ' ').replace('Z', '')
  return { id: r.id, subject: r.subject, time, tenant: r.tenant, origin: r.origin, payload: r.payload as Record<string, unknown>, providerMeta: r.providerMeta as Record<string, unknown> }
}

function fromOutcome(o: OutcomeRecord): AnswerOutcome {
  return { pipeline: o.pipeline, stage: o.stage, status: o.status, attempt: o.attempt, streamSeq: o.streamSeq, labels: (o.labels ?? {}) as Record<string, unknown> }
}

/** The product's queryEvents, answering in the comparison's form. */
export async function productQueryEvents(ch: ClickHouse, filter: EventFilter): Promise<Answer> {
  const page = await queryEvents(ch, filter)
  return { type: 'page', events: page.events.map(fromRecord), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
}

/** The product's getEvent, answering in the comparison's form. */
export async function productGetEvent(ch: ClickHouse, id: string): Promise<Answer> {
  const d = await getEvent(ch, id)
  return { type: 'event', events: (d?.events ?? []).map(fromRecord), outcomes: (d?.outcomes ?? []).map(fromOutcome) }
}

/** JSON with object keys sorted at every level: two answers are the same when these are equal. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x))
}

/** "50 events, next page" / "1 event, 3 outcomes" / "12 rows": what an answer holds, for the table. */
export function describeAnswer(a: Answer): string {
  if (a.type === 'page') return `${a.events.length} events${a.nextCursor ? ', more' : ''}`
  if (a.type === 'event') return `${a.events.length} events, ${a.outcomes.length} outcomes`
  return `${a.rows.length} rows`
}
