import type { ConsumerFailed, Report } from '../jetstream/report.ts'
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import { DEFAULT_RETRY_POLICY, retrySoon } from '../jetstream/settle.ts'
import { ensureRawConsumer, RAW_MAX_MSG_SIZE, RAW_STREAM } from '../jetstream/topology.ts'
import { byteBoundedPull, startTrackedConsumer, type ConsumerState, type KeepAlive, type TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import type { Logger } from '../observability/logger.ts'
import type { RawRow } from './raw-archive.ts'
import type { BatchWriter } from './writer.ts'

export interface RawRecorderOptions {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly writer: BatchWriter<RawRow>
  /** redelivery deadline of an unacknowledged payload (default 30 s) */
  readonly ackWaitMs?: number
  /** payloads in flight, the consumer's max_ack_pending (default 128: each may be megabytes) */
  readonly maxInFlight?: number
  /** payload bytes held in memory while unacknowledged (default 128 MiB): the recorder stops pulling past it */
  readonly maxHeldBytes?: number
  readonly report?: Report<ConsumerFailed>
  readonly logger?: Logger
}

export interface RawRecorder {
  /** its consumer's state: failed (and stays so) when the consumer stopped on its own */
  readonly state: ConsumerState
  readonly failure: string | undefined
  stats(): { readonly recorded: number; readonly terminated: number; readonly inFlight: number; readonly heldBytes: number }
  /** Stops pulling and waits for the payloads in flight; the same promise on every call. */
  close(): Promise<void>
  /** Resolves once stopped or failed; never rejects. */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Pull by bytes, not count: payloads may be megabytes each. What is held unacknowledged (a
 * ClickHouse outage) stays within this budget plus one pull; max_ack_pending bounds the count.
 */
export const RAW_RECORDER_HELD_BYTES = 16 * RAW_MAX_MSG_SIZE

/**
 * Copies the raw archive stream into omni_raw_payloads through its own durable consumer. A
 * payload is acknowledged once its row is written; until then an outage only delays it.
 */
export async function startRawRecorder(opts: RawRecorderOptions): Promise<RawRecorder> {
  const name = await ensureRawConsumer(opts.jsm, {
    ...(opts.ackWaitMs ? { ackWaitMs: opts.ackWaitMs } : {}),
    ...(opts.maxInFlight ? { maxAckPending: opts.maxInFlight } : {}),
  })
  let recorded = 0
  let terminated = 0

  // A payload that cannot be decoded, or whose row ClickHouse refuses, cannot be retried into
  // success, so it is terminated rather than redelivered forever. It is not lost: the JetStream
  // copy stays readable until the stream's max_age (rawMaxAgeMs) removes it.
  const terminate = (m: JsMsg, reason: string, error: string) => {
    opts.logger?.error({ seq: m.info.streamSequence, subject: m.subject, error }, `raw payload not archived in ClickHouse (${reason}); its JetStream copy stays until max_age`)
    m.term(reason)
    terminated++
  }

  const handle = async (m: JsMsg, keepAlive: KeepAlive): Promise<void> => {
    const row = decodeRow(m)
    if (typeof row === 'string') return terminate(m, 'undecodable', row)
    const written = await keepAlive(m, opts.writer.write([row]))
    if (written.type === 'aborted') return retrySoon(m, DEFAULT_RETRY_POLICY)
    if (written.type === 'rejected') return terminate(m, 'rejected by ClickHouse', written.error)
    m.ack()
    recorded++
  }

  const consumer: TrackedConsumer = await startTrackedConsumer({
    js: opts.js,
    stream: RAW_STREAM,
    consumer: name,
    ...byteBoundedPull(opts.maxHeldBytes ?? RAW_RECORDER_HELD_BYTES, RAW_MAX_MSG_SIZE),
    handle,
    ...(opts.report ? { report: opts.report } : {}),
  })
  return {
    get state() {
      return consumer.state
    },
    get failure() {
      return consumer.failure
    },
    stats: () => ({ recorded, terminated, inFlight: consumer.inFlight(), heldBytes: consumer.heldBytes() }),
    close: () => consumer.close(),
    closed: () => consumer.closed(),
    [Symbol.asyncDispose]: () => consumer.close(),
  }
}

const TEXT_FIELDS = ['raw_id', 'received_at', 'provider', 'instance', 'tenant', 'content_type', 'body', 'sha256'] as const

/** The row archiveRaw published, or why it is not one. */
function decodeRow(m: JsMsg): RawRow | string {
  let v: unknown
  try {
    v = m.json()
  } catch (err) {
    return `not JSON: ${(err as Error).message}`
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object'
  const r = v as Record<string, unknown>
  for (const f of TEXT_FIELDS) if (typeof r[f] !== 'string') return `${f} is not a string`
  if (typeof r['size'] !== 'number') return 'size is not a number'
  const headers = r['headers']
  if (typeof headers !== 'object' || headers === null || Object.values(headers).some((h) => typeof h !== 'string')) return 'headers is not an object of strings'
  return r as unknown as RawRow
}
