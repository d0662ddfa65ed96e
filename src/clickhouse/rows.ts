// Rows as the tables take them (JSONEachRow), built from an envelope and what happened to it.
import { PROVIDER_META_KEY, type Envelope } from '../envelope/schema.ts'
import type { StageOutcome } from '../pipeline/executor.ts'
import { CLIENT_ORIGIN } from '../wire/mod.ts'
import type { TableName } from './client.ts'
import { toClickHouseTime } from './time.ts'

export interface EventRow {
  event_id: string
  type: string
  source: string
  subject: string
  time: string
  tenant: string
  instance: string
  provider: string
  visibility: string
  actor: string
  conversation: string
  correlation_id: string
  causation_id: string
  idempotency_key: string
  stream_seq: number
  emitted_by: string
  pipelines: readonly string[]
  /** stored as its JSON text in a String column (see INSERT_SETTINGS) */
  payload: Record<string, unknown>
  /** stored as its JSON text, like payload */
  provider_meta: Record<string, unknown>
  dataref: string
  recorded_at: string
  /** how the event came in (`client`, `webhook:<provider>:<instance>`, `mesh:<node>`); an output names its source's */
  origin: string
  /** the mesh node the event was received from (envelope `origin`), '' for this node's own */
  origin_node: string
}

/**
 * Engine settings for inserts into a table. omni_events' payload columns are String (migrations
 * 12–16): the rows keep their objects and the engine stores each object's JSON text exactly as the
 * client encoded it (JSON.stringify), which costs the JavaScript thread nothing more, where
 * building the text here would encode every payload twice (once to text, then that text
 * escaped again inside the row). The setting is the default of current engines; it is named so
 * that a server set otherwise still stores text instead of refusing the row.
 */
export const INSERT_SETTINGS: Partial<Record<TableName, { readonly input_format_json_read_objects_as_strings: 1 }>> = {
  omni_events: { input_format_json_read_objects_as_strings: 1 },
}

export type OutcomeStatus = 'ok' | 'skipped' | 'dropped' | 'failed' | 'dead-lettered'

export interface OutcomeRow {
  event_id: string
  idempotency_key: string
  type: string
  tenant: string
  pipeline: string
  stage: string
  uses: string
  digest: string
  status: OutcomeStatus
  duration_ms: number
  error: string
  attempt: number
  stream_seq: number
  recorded_at: string
  /** the labels the stage set, as JSON text ('{}' for none) */
  labels: string
  /** the ingest origin of the event, as its omni_events row names it: the label filter matches on it */
  origin: string
}

export interface Delivery {
  readonly subject: string
  readonly seq: number
  /** the pipeline whose output this message is, '' for an ingested event */
  readonly emittedBy: string
  /** loaded pipelines whose sources match the subject */
  readonly pipelines: readonly string[]
  /** the ingest origin (decodeIngestOrigin); `client` when not given */
  readonly origin?: string
}

export function eventRow(e: Envelope, d: Delivery, now = Date.now()): EventRow {
  const { [PROVIDER_META_KEY]: meta, ...payload } = e.data
  return {
    event_id: e.id,
    type: e.type,
    source: e.source,
    subject: d.subject,
    time: toClickHouseTime(e.time),
    tenant: e.tenant,
    instance: e.instance ?? '',
    provider: e.provider ?? '',
    visibility: e.visibility,
    actor: e.actor ?? '',
    conversation: e.conversation ?? '',
    correlation_id: e.correlationid ?? '',
    causation_id: e.causationid ?? '',
    idempotency_key: e.idempotencykey,
    stream_seq: d.seq,
    emitted_by: d.emittedBy,
    pipelines: d.pipelines,
    payload,
    provider_meta: meta !== null && typeof meta === 'object' && !Array.isArray(meta) ? (meta as Record<string, unknown>) : {},
    dataref: e.dataref ?? '',
    recorded_at: toClickHouseTime(now),
    origin: d.origin ?? CLIENT_ORIGIN,
    origin_node: e.origin ?? '',
  }
}

export interface OutcomeContext {
  readonly event: Envelope
  readonly pipeline: string
  readonly seq: number
  readonly attempt: number
  /** stage id → the cartridge or plugin it uses, and that code's digest when it has one */
  readonly stages: ReadonlyMap<string, { readonly uses: string; readonly digest?: string }>
  /** the ingest origin of the message (decodeIngestOrigin); `client` when not given */
  readonly origin?: string
}

/**
 * One row per stage the event reached. When the event is dead-lettered, the stage that failed is
 * recorded as `dead-lettered` (its earlier, retried failures are not rows: the last attempt's
 * outcome replaces them).
 */
export function outcomeRows(ctx: OutcomeContext, outcomes: readonly StageOutcome[], deadLetteredAt?: { stage: string; error: string }, now = Date.now()): OutcomeRow[] {
  const recorded = toClickHouseTime(now)
  const base = (stage: string) => {
    const known = ctx.stages.get(stage)
    return {
      event_id: ctx.event.id,
      idempotency_key: ctx.event.idempotencykey,
      type: ctx.event.type,
      tenant: ctx.event.tenant,
      pipeline: ctx.pipeline,
      stage,
      uses: known?.uses ?? (stage.startsWith('output') ? 'output' : stage),
      digest: known?.digest ?? '',
      attempt: ctx.attempt,
      stream_seq: ctx.seq,
      recorded_at: recorded,
      origin: ctx.origin ?? CLIENT_ORIGIN,
    }
  }
  const rows: OutcomeRow[] = outcomes.map((t) => {
    switch (t.type) {
      case 'ran':
        return { ...base(t.stage), status: 'ok', duration_ms: round(t.ms), error: '', labels: t.labels ? JSON.stringify(t.labels) : NO_LABELS }
      case 'skipped':
        return { ...base(t.stage), status: 'skipped', duration_ms: 0, error: t.reason, labels: NO_LABELS }
      case 'dropped':
        return { ...base(t.stage), status: 'dropped', duration_ms: 0, error: t.reason, labels: NO_LABELS }
      case 'failed':
        return { ...base(t.stage), status: deadLetteredAt?.stage === t.stage ? 'dead-lettered' : 'failed', duration_ms: 0, error: t.error, labels: NO_LABELS }
    }
  })
  if (deadLetteredAt && !rows.some((r) => r.stage === deadLetteredAt.stage)) {
    rows.push({ ...base(deadLetteredAt.stage), status: 'dead-lettered', duration_ms: 0, error: deadLetteredAt.error, labels: NO_LABELS })
  }
  return rows
}

const NO_LABELS = '{}'

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
