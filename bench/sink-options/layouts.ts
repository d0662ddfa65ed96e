// The table layouts the experiment compares. Each lives in a database of its own and keeps the
// product's table names, so the product's own queries run on a layout whose tables they know.
// The events table is always the product's (`omni migrate` creates it), with only the payload
// columns' type changed: everything else (sorting key, first-copy version, indexes, TTL) stays.
// Since migration 12 the product's payload columns are String: `current` is the product as it
// is, and `json` the design before (payload JSON), kept so the change stays measured.
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { migrate } from '../../src/clickhouse/migrations.ts'
import { INSERT_SETTINGS, type EventRow, type OutcomeRow } from '../../src/clickhouse/rows.ts'
import type { EventRows } from './events.ts'

export type PayloadColumn = 'json' | 'string' | 'string-mat' | 'map'
export type OutcomeShape = 'stages' | 'runs'

export interface Layout {
  readonly id: string
  readonly payload: PayloadColumn
  readonly outcomes: OutcomeShape
  readonly title: string
}

/** the product's own tables, as `omni migrate` makes them: the product's queries are checked on it */
export const PRODUCT_LAYOUT = 'current'
/** the design before migration 12: the figures are relative to it, as the first runs' were */
export const BASELINE_LAYOUT = 'json'

export const LAYOUTS: readonly Layout[] = [
  { id: 'json', payload: 'json', outcomes: 'stages', title: 'before migration 12: payload JSON, a row per stage outcome' },
  { id: 'current', payload: 'string', outcomes: 'stages', title: "the product's (migration 12): payload String, a row per stage outcome" },
  { id: 'string-mat', payload: 'string-mat', outcomes: 'stages', title: 'payload String + materialized payload_kind, a row per stage outcome' },
  { id: 'map', payload: 'map', outcomes: 'stages', title: 'payload Map(String, String) (values as JSON text), a row per stage outcome' },
  { id: 'json-runs', payload: 'json', outcomes: 'runs', title: 'payload JSON, a row per (event, pipeline) with Nested outcomes' },
  { id: 'string-runs', payload: 'string', outcomes: 'runs', title: 'payload String, a row per (event, pipeline) with Nested outcomes' },
]

export const OUTCOME_TABLE: Record<OutcomeShape, string> = { stages: 'omni_stage_outcomes', runs: 'omni_pipeline_runs' }

/** The per-layout database: one engine per process, so layouts are kept apart by database. */
export function databaseOf(layout: Layout, prefix: string): string {
  return `${prefix}_${layout.id.replace(/-/g, '_')}`
}

/**
 * One row per (event, pipeline): the stage outcomes of one delivery as parallel arrays. Keyed
 * like omni_stage_outcomes without the stage, with the attempt as version: a redelivery's row
 * replaces the whole earlier attempt (per-stage rows replace stage by stage).
 */
const RUNS_SQL = (db: string) => `CREATE TABLE ${db}.omni_pipeline_runs
(
    event_id String,
    idempotency_key String,
    type LowCardinality(String),
    tenant LowCardinality(String),
    pipeline LowCardinality(String),
    attempt UInt16,
    stream_seq UInt64,
    recorded_at DateTime64(3, 'UTC'),
    origin LowCardinality(String),
    outcomes Nested(
        stage LowCardinality(String),
        uses LowCardinality(String),
        digest String,
        status Enum8('ok' = 1, 'skipped' = 2, 'dropped' = 3, 'failed' = 4, 'dead-lettered' = 5),
        duration_ms Float64,
        error String,
        labels String),
    INDEX idx_event event_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(attempt)
ORDER BY (pipeline, stream_seq)
TTL toDateTime(recorded_at) + INTERVAL 90 DAY`

const PAYLOAD_TYPE: Record<PayloadColumn, string> = { json: 'JSON', string: 'String', 'string-mat': 'String', map: 'Map(String, String)' }

/** Fresh tables for a layout: the product's migrations, then the layout's changes. */
export async function createLayout(ch: ClickHouse, layout: Layout): Promise<void> {
  const db = ch.config.database
  await ch.client.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` })
  await migrate(ch)
  if (layout.payload !== 'string') {
    const rs = await ch.client.query({ query: `SHOW CREATE TABLE ${db}.omni_events`, format: 'JSONEachRow' })
    const [{ statement } = { statement: '' }] = await rs.json<{ statement: string }>()
    const type = PAYLOAD_TYPE[layout.payload]
    let sql = statement.replace('`payload` String,', `\`payload\` ${type},`).replace('`provider_meta` String,', `\`provider_meta\` ${type},`)
    // the one payload field a query could filter on by equality (none of the API's does: see the doc)
    if (layout.payload === 'string-mat') sql = sql.replace('`dataref` String,', "`dataref` String,\n    `payload_kind` LowCardinality(String) MATERIALIZED JSONExtractString(payload, 'kind'),")
    if (!sql.includes(`\`payload\` ${type},`) || !sql.includes(`\`provider_meta\` ${type},`)) throw new Error(`the product's omni_events no longer has String payload columns; update bench/sink-options/layouts.ts:\n${statement}`)
    await ch.client.command({ query: `DROP TABLE ${db}.omni_events SYNC` })
    await ch.client.command({ query: sql })
  }
  if (layout.outcomes === 'runs') {
    await ch.client.command({ query: `DROP TABLE ${db}.omni_stage_outcomes SYNC` })
    await ch.client.command({ query: RUNS_SQL(db) })
  }
}

/** Engine settings for an insert into the layout's events table. */
export function insertSettings(layout: Layout): Record<string, 0 | 1> {
  // String columns take the payload object's JSON text as it came, as the product's writer sends it
  return layout.payload === 'string' || layout.payload === 'string-mat' ? { ...INSERT_SETTINGS.omni_events } : {}
}

type Row = Record<string, unknown>

/** A Map(String, String) holds each top-level field's value as JSON text, so no type is lost. */
function asMap(o: Record<string, unknown>): Record<string, string> {
  const m: Record<string, string> = {}
  for (const [k, v] of Object.entries(o)) m[k] = JSON.stringify(v)
  return m
}

/** The events table's rows for a batch, as the layout takes them. */
export function eventRowsOf(layout: Layout, batch: readonly EventRows[]): Row[] {
  const rows: EventRow[] = []
  for (const e of batch) rows.push(e.input, e.output)
  if (layout.payload !== 'map') return rows as unknown as Row[]
  return rows.map((r) => ({ ...r, payload: asMap(r.payload), provider_meta: asMap(r.provider_meta) }))
}

/** The outcomes table's rows for a batch: one per stage, or one per (event, pipeline). */
export function outcomeRowsOf(layout: Layout, batch: readonly EventRows[]): Row[] {
  if (layout.outcomes === 'stages') return batch.flatMap((e) => e.outcomes) as unknown as Row[]
  return batch.flatMap((e) => (e.outcomes.length === 0 ? [] : [runRow(e.outcomes)]))
}

function runRow(stages: readonly OutcomeRow[]): Row {
  const first = stages[0] as OutcomeRow
  return {
    event_id: first.event_id,
    idempotency_key: first.idempotency_key,
    type: first.type,
    tenant: first.tenant,
    pipeline: first.pipeline,
    attempt: first.attempt,
    stream_seq: first.stream_seq,
    recorded_at: first.recorded_at,
    origin: first.origin,
    'outcomes.stage': stages.map((s) => s.stage),
    'outcomes.uses': stages.map((s) => s.uses),
    'outcomes.digest': stages.map((s) => s.digest),
    'outcomes.status': stages.map((s) => s.status),
    'outcomes.duration_ms': stages.map((s) => s.duration_ms),
    'outcomes.error': stages.map((s) => s.error),
    'outcomes.labels': stages.map((s) => s.labels),
  }
}

/** The payload as the API returns it (an object), from what the layout's column gives back. */
export function decodePayload(layout: Layout, v: unknown): Record<string, unknown> {
  if (layout.payload === 'json') return v as Record<string, unknown>
  if (layout.payload === 'map') return Object.fromEntries(Object.entries(v as Record<string, string>).map(([k, s]) => [k, JSON.parse(s) as unknown]))
  return JSON.parse(v as string) as Record<string, unknown>
}

/**
 * The payload's text that `--text` searches. JSON: its JSON text, as before migration 12. String: the column
 * itself. Map: the values' JSON text (keys are not searched: a needle spanning a key and its
 * value, such as `kind":"text`, finds nothing there).
 */
export function payloadText(layout: Layout): string {
  if (layout.payload === 'json') return 'toString(payload)'
  if (layout.payload === 'map') return "arrayStringConcat(mapValues(payload), ',')"
  return 'payload'
}
