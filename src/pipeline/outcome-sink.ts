// The port through which the worker records what its stages did. The pipeline owns the contract;
// the store behind it (ClickHouse, src/clickhouse/outcome-sink.ts) implements it, so the worker
// never learns about rows or tables.
import type { Envelope } from '../envelope/schema.ts'
import type { CompiledPipeline } from './compile.ts'
import type { StageOutcome } from './executor.ts'

/**
 * The stage a dead letter names when the sink refused what it was given (the worker's outcomes,
 * the recorder's event row): "analytics" names the meta.analytics.log cartridge only.
 */
export const SINK_STAGE = 'sink'

/** What became of the outcomes handed to a sink. */
export type RecordResult =
  | { readonly type: 'written' }
  /** the store refused them for their content; retrying cannot help */
  | { readonly type: 'rejected'; readonly error: string }
  /** the sink closed before they were stored: the event must not be acknowledged */
  | { readonly type: 'aborted'; readonly error: string }

/** The outcomes of one delivery of one event, as the worker settles it. */
export interface SettledOutcomes {
  readonly pipeline: CompiledPipeline
  readonly event: Envelope
  /** the stream sequence of the message */
  readonly seq: number
  /** its delivery count */
  readonly attempt: number
  readonly outcomes: readonly StageOutcome[]
  /** how the message's event came in (decodeIngestOrigin), so labels find its omni_events row; `client` when not given */
  readonly origin?: string
  /** set when the event went to the dead letters, failing at this stage */
  readonly deadLettered?: { readonly stage: string; readonly error: string }
}

/** Where stage outcomes go. The worker acknowledges an event only once they are written. */
export interface OutcomeSink {
  /** Records one event's outcomes; resolves once they are stored, refused, or given up at close. */
  record(settled: SettledOutcomes): Promise<RecordResult>
}
