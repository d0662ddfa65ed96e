import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import type { Logger } from '../observability/logger.ts'
import type { CompiledPipeline } from '../pipeline/compile.ts'
import type { OutcomeSink } from '../pipeline/outcome-sink.ts'
import { openClickHouse, type ClickHouse } from './client.ts'
import type { ClickHouseConfig } from './config.ts'
import { migrate, type MigrateReport } from './migrations.ts'
import { createOutcomeSink } from './outcome-sink.ts'
import type { RawRow } from './raw-archive.ts'
import { startRawRecorder, type RawRecorder } from './raw-recorder.ts'
import { startRecorder, type Recorder, type RecorderOptions } from './recorder.ts'
import type { EventRow, OutcomeRow } from './rows.ts'
import { createBatchWriter, type BatchWriter, type BatchWriterOptions } from './writer.ts'

export interface AnalyticsOptions {
  readonly config: ClickHouseConfig
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly pipelines: () => readonly CompiledPipeline[]
  readonly logger: Logger
  readonly maxInFlight?: number
  readonly ackWaitMs?: number
  /** batch sizing and retry timing (tests shorten them) */
  readonly writer?: Pick<BatchWriterOptions, 'maxRows' | 'flushMs' | 'backoffMs' | 'closeTimeoutMs'>
  readonly onFailed?: (reason: string) => void
  readonly beforeAck?: RecorderOptions['beforeAck']
}

/** ClickHouse as the fabric uses it: migrated, a writer per table, and the two recorders. */
export interface Analytics {
  readonly ch: ClickHouse
  readonly migrated: MigrateReport
  /** where every pipeline worker records its stage outcomes before it acknowledges */
  readonly outcomes: OutcomeSink
  readonly events: BatchWriter<EventRow>
  /** raw provider payloads, fed by the raw recorder from the OMNI_RAW stream */
  readonly raw: BatchWriter<RawRow>
  readonly recorder: Recorder
  readonly rawRecorder: RawRecorder
  /** true while inserts are failing and being retried */
  unavailable(): boolean
  close(): Promise<void>
}

/** Opens ClickHouse, applies migrations, and starts recording events and raw payloads. */
export async function startAnalytics(opts: AnalyticsOptions): Promise<Analytics> {
  const ch = await openClickHouse(opts.config)
  try {
    const migrated = await migrate(ch)
    if (migrated.applied.length > 0 || migrated.retentionChanged.length > 0) opts.logger.info({ ...migrated, clickhouse: ch.description }, 'ClickHouse schema migrated')
    const log = {
      onRetry: (i: { table: string; error: string; attempt: number; rows: number; delayMs: number }) =>
        // one line when it starts failing, then one every tenth attempt: an outage must not flood the log
        (i.attempt === 1 || i.attempt % 10 === 0) && opts.logger.warn(i, 'ClickHouse insert failed; events wait unacknowledged and the insert is retried'),
      onRecovered: (i: { table: string; attempts: number }) => opts.logger.info(i, 'ClickHouse inserts succeed again'),
    }
    const events = createBatchWriter<EventRow>(ch, { table: 'omni_events', ...opts.writer, ...log })
    const outcomes = createBatchWriter<OutcomeRow>(ch, { table: 'omni_stage_outcomes', ...opts.writer, ...log })
    const raw = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', ...opts.writer, ...log })
    const recorder = await startRecorder({
      js: opts.js,
      jsm: opts.jsm,
      publisher: opts.publisher,
      writer: events,
      pipelines: opts.pipelines,
      ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
      ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
      onDeadLettered: (seq, error) => opts.logger.error({ seq, error }, 'ClickHouse refused an event; it is in the dead letters'),
      ...(opts.onFailed ? { onFailed: opts.onFailed } : {}),
      ...(opts.beforeAck ? { beforeAck: opts.beforeAck } : {}),
    })
    // maxInFlight is the events' bound; raw payloads may be megabytes each and keep their own
    const rawRecorder = await startRawRecorder({
      js: opts.js,
      jsm: opts.jsm,
      writer: raw,
      logger: opts.logger,
      ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
      ...(opts.onFailed ? { onFailed: (reason: string) => opts.onFailed?.(`raw archive: ${reason}`) } : {}),
    }).catch(async (err: unknown) => {
      await recorder.close()
      throw err
    })
    let closing: Promise<void> | undefined
    return {
      ch,
      migrated,
      outcomes: createOutcomeSink(outcomes),
      events,
      raw,
      recorder,
      rawRecorder,
      unavailable: () => events.unavailable() || outcomes.unavailable() || raw.unavailable(),
      close() {
        // the recorders first (they feed writers), then the writers, then the engine
        closing ??= (async () => {
          await Promise.all([recorder.close(), rawRecorder.close()])
          await Promise.all([events.close(), outcomes.close(), raw.close()])
          await ch.close()
        })()
        return closing
      },
    }
  } catch (err) {
    await ch.close()
    throw err
  }
}
