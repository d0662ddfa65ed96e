import { Lifecycle } from '../util/lifecycle.ts'
import type { Acking, ConsumerFailed, Report } from '../jetstream/report.ts'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import type { ConsumerState } from '../jetstream/tracked-consumer.ts'
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

export interface ClickHouseSinkOptions {
  readonly config: ClickHouseConfig
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly pipelines: () => readonly CompiledPipeline[]
  readonly logger: Logger
  readonly maxInFlight?: number
  /** the largest event the events stream takes: the recorder never pulls less */
  readonly maxMsgSize?: number
  readonly ackWaitMs?: number
  /** batch sizing and retry timing (tests shorten them) */
  readonly writer?: Pick<BatchWriterOptions, 'maxRows' | 'flushMs' | 'backoffMs' | 'closeTimeoutMs'>
  /** the recorders' reports: a recorder's consumer stopping on its own, and the moment before each ack */
  readonly report?: Report<SinkStatus>
}

/** What the sink reports: its recorders' acks and failures (events ClickHouse refuses are logged). */
export type SinkStatus = Acking | ConsumerFailed

/** ClickHouse as the node uses it: migrated, a writer per table, and the two recorders. */
export interface ClickHouseSink {
  readonly ch: ClickHouse
  readonly migrated: MigrateReport
  /** where every pipeline worker records its stage outcomes before it acknowledges */
  readonly outcomes: OutcomeSink
  readonly recorder: Recorder
  readonly rawRecorder: RawRecorder
  /** failed (and stays so, through close) once a recorder's consumer stopped on its own */
  readonly state: ConsumerState
  readonly failure: string | undefined
  /** true while inserts are failing and being retried */
  unavailable(): boolean
  /**
   * Gives ClickHouse `closeTimeoutMs` more, from now: every write still unwritten then is
   * answered `aborted`, so the workers and recorders waiting on it leave their messages
   * unacknowledged (redelivered later) and can drain. Called when the node starts to close.
   */
  stopWaiting(): void
  /**
   * Stops the recorders, then writes what is queued, then closes ClickHouse; the same promise on
   * every call. Bounded while ClickHouse is down: nothing unwritten is acknowledged.
   */
  close(): Promise<void>
  /** Resolves once stopped or failed; never rejects. */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Opens ClickHouse, applies migrations, and starts recording events and raw payloads. */
export async function startClickHouseSink(opts: ClickHouseSinkOptions): Promise<ClickHouseSink> {
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
    const writers = {
      events: createBatchWriter<EventRow>(ch, { table: 'omni_events', ...opts.writer, ...log }),
      outcomes: createBatchWriter<OutcomeRow>(ch, { table: 'omni_stage_outcomes', ...opts.writer, ...log }),
      raw: createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', ...opts.writer, ...log }),
    }
    const sink = new ClickHouseSinkImpl(ch, migrated, writers, opts.report)
    await sink.start(opts)
    return sink
  } catch (err) {
    await ch.close()
    throw err
  }
}

interface Writers {
  readonly events: BatchWriter<EventRow>
  readonly outcomes: BatchWriter<OutcomeRow>
  readonly raw: BatchWriter<RawRow>
}

class ClickHouseSinkImpl extends Lifecycle implements ClickHouseSink {
  readonly ch: ClickHouse
  readonly migrated: MigrateReport
  readonly outcomes: OutcomeSink
  readonly #writers: Writers
  readonly #report: Report<SinkStatus> | undefined
  #recorder: Recorder | undefined
  #rawRecorder: RawRecorder | undefined
  #state: ConsumerState = 'running'
  failure: string | undefined

  constructor(ch: ClickHouse, migrated: MigrateReport, writers: Writers, report: Report<SinkStatus> | undefined) {
    super()
    this.ch = ch
    this.migrated = migrated
    this.#writers = writers
    this.#report = report
    this.outcomes = createOutcomeSink(writers.outcomes)
  }

  /** Starts both recorders; a failure closes what started, down to ClickHouse, and rethrows. */
  async start(opts: ClickHouseSinkOptions): Promise<void> {
    try {
      this.#recorder = await startRecorder({
        js: opts.js,
        jsm: opts.jsm,
        publisher: opts.publisher,
        writer: this.#writers.events,
        pipelines: opts.pipelines,
        ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
        ...(opts.maxMsgSize ? { maxMsgSize: opts.maxMsgSize } : {}),
        ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
        report: (s) => {
          if (s.type === 'recorder-dead-lettered') opts.logger.error({ seq: s.seq, error: s.error }, 'ClickHouse refused an event; it is in the dead letters')
          else if (s.type === 'consumer-failed') this.#fail(s)
          else this.#report?.(s)
        },
      })
      // maxInFlight is the events' bound; raw payloads may be megabytes each and keep their own
      this.#rawRecorder = await startRawRecorder({
        js: opts.js,
        jsm: opts.jsm,
        writer: this.#writers.raw,
        logger: opts.logger,
        ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
        report: (s) => this.#fail(s),
      })
    } catch (err) {
      await this.close()
      throw err
    }
  }

  get recorder(): Recorder {
    return this.#recorder as Recorder
  }

  get rawRecorder(): RawRecorder {
    return this.#rawRecorder as RawRecorder
  }

  get state(): ConsumerState {
    return this.#state
  }

  #fail(failed: ConsumerFailed): void {
    if (this.#state !== 'running') return
    this.#state = 'failed'
    this.failure = `${failed.consumer}: ${failed.reason}`
    this.#report?.(failed)
    this.ended()
  }

  unavailable(): boolean {
    return this.#writers.events.unavailable() || this.#writers.outcomes.unavailable() || this.#writers.raw.unavailable()
  }

  stopWaiting(): void {
    for (const w of [this.#writers.events, this.#writers.outcomes, this.#writers.raw]) w.stopWaiting()
  }

  protected async release(): Promise<void> {
    // the recorders first (they feed writers), then the writers, then the engine; the
    // recorders' in-flight events wait on the writers, so the writers' deadline starts first
    if (this.#state === 'running') this.#state = 'draining'
    this.stopWaiting()
    await Promise.all([this.#recorder?.close(), this.#rawRecorder?.close()])
    await Promise.all([this.#writers.events.close(), this.#writers.outcomes.close(), this.#writers.raw.close()])
    await this.ch.close()
    if (this.#state !== 'failed') this.#state = 'stopped'
  }
}
