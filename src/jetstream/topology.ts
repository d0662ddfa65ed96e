import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { DLQ_SUBJECT_PREFIX, EVENT_SUBJECTS, RAW_SUBJECT_PREFIX, redriveSubject } from '../wire/mod.ts'

/** Names of the JetStream backbone, in one place; its subjects are in src/wire. */
export const EVENTS_STREAM = 'OMNI_EVENTS'
export const DLQ_STREAM = 'OMNI_DLQ'
/** Webhook bodies exactly as they arrived, before normalization. */
export const RAW_STREAM = 'OMNI_RAW'
/** The durable consumer that copies the raw archive into ClickHouse. */
export const RAW_RECORDER = 'raw-recorder'

export const consumerName = (pipeline: string) => `pipeline-${pipeline}`

const ns = (ms: number) => ms * 1_000_000

export interface TopologyOptions {
  /** the stream's duplicate window: a repeated Nats-Msg-Id inside it is dropped (default 2 min) */
  readonly duplicateWindowMs?: number
  /** largest event accepted by the stream, bytes (default 1 MiB) */
  readonly maxMsgSize?: number
  /** how long events are kept (default 7 days; 0 = until limits) */
  readonly maxAgeMs?: number
  /**
   * how long raw payloads stay in JetStream (default 7 days; 0 = until limits): long enough to
   * outlast a ClickHouse outage, which keeps the long-term copy under its own TTL
   */
  readonly rawMaxAgeMs?: number
  /**
   * `upsert` (the platform at start) brings existing streams to this configuration;
   * `create-missing` (CLI commands) only creates absent ones and leaves a running setup alone.
   */
  readonly mode?: 'upsert' | 'create-missing'
}

export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000
export const DEFAULT_MAX_MSG_SIZE = 1024 * 1024
/**
 * Largest raw archive message: a 1 MiB body grows when JSON-escaped inside its row (measured:
 * webhook JSON ×1.15, all quotes ×2, control characters ×6), so 8 MiB holds any body the API's
 * default 1 MiB limit admits, with its headers. The locally managed nats-server allows as much
 * (src/server/options.ts); a server with the 1 MiB default refuses larger publishes itself.
 */
export const RAW_MAX_MSG_SIZE = 8 * 1024 * 1024
const WEEK_MS = 7 * 24 * 3_600_000

/** Creates the events, dead-letter and raw archive streams, or updates them to this configuration. */
export async function ensureStreams(jsm: JetStreamManager, opts: TopologyOptions = {}): Promise<void> {
  const common = { storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, allow_direct: true, num_replicas: 1 }
  const updateExisting = opts.mode !== 'create-missing'
  await upsertStream(jsm, { updateExisting }, {
    ...common,
    name: EVENTS_STREAM,
    subjects: [...EVENT_SUBJECTS],
    duplicate_window: ns(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    max_msg_size: opts.maxMsgSize ?? DEFAULT_MAX_MSG_SIZE,
    max_age: ns(opts.maxAgeMs ?? WEEK_MS),
  })
  await upsertStream(jsm, { updateExisting }, {
    ...common,
    name: DLQ_STREAM,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    duplicate_window: ns(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    // dead letters wait for a human: keep them until redriven or the limits bite
    max_age: 0,
  })
  await upsertStream(jsm, { updateExisting }, {
    ...common,
    name: RAW_STREAM,
    subjects: [`${RAW_SUBJECT_PREFIX}.>`],
    // a provider retry inside the window is dropped here; a later one collapses in ClickHouse
    duplicate_window: ns(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    max_msg_size: RAW_MAX_MSG_SIZE,
    max_age: ns(opts.rawMaxAgeMs ?? WEEK_MS),
  })
}

async function upsertStream(jsm: JetStreamManager, { updateExisting }: { updateExisting: boolean }, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const exists = await jsm.streams.info(config.name).then(
    () => true,
    (err: unknown) => {
      if (isNotFound(err)) return false
      throw err
    },
  )
  if (!exists) await jsm.streams.add(config)
  else if (updateExisting) await jsm.streams.update(config.name, config)
}

export interface ConsumerOptions {
  readonly pipeline: string
  readonly sources: readonly string[]
  /** redelivery deadline of an unacknowledged event (default 30 s) */
  readonly ackWaitMs?: number
  /** events in flight across all workers sharing the consumer (default 4096): the backpressure bound */
  readonly maxAckPending?: number
}

/**
 * Creates or updates the pipeline's durable pull consumer; several worker processes share it.
 * max_deliver stays unlimited on purpose: the worker dead-letters at the pipeline's limit, so
 * the server never silently gives up on an event.
 */
export async function ensurePipelineConsumer(jsm: JetStreamManager, opts: ConsumerOptions): Promise<string> {
  const name = consumerName(opts.pipeline)
  const filter_subjects = [...new Set([...opts.sources, redriveSubject(opts.pipeline)])]
  const mutable = {
    filter_subjects,
    ack_wait: ns(opts.ackWaitMs ?? 30_000),
    max_ack_pending: opts.maxAckPending ?? 4096,
    max_deliver: -1,
    description: `Omni Fabric pipeline ${opts.pipeline}`,
  }
  await upsertConsumer(jsm, EVENTS_STREAM, name, mutable)
  return name
}

export interface RawConsumerOptions {
  /** redelivery deadline of an unacknowledged payload (default 30 s) */
  readonly ackWaitMs?: number
  /** payloads in flight, held in memory during a ClickHouse outage (default 128: each may be megabytes) */
  readonly maxAckPending?: number
}

/** Creates or updates the raw recorder's durable pull consumer; like a pipeline's, it never gives up. */
export async function ensureRawConsumer(jsm: JetStreamManager, opts: RawConsumerOptions = {}): Promise<string> {
  await upsertConsumer(jsm, RAW_STREAM, RAW_RECORDER, {
    ack_wait: ns(opts.ackWaitMs ?? 30_000),
    max_ack_pending: opts.maxAckPending ?? 128,
    max_deliver: -1,
    description: 'Omni Fabric raw payload archive into ClickHouse',
  })
  return RAW_RECORDER
}

/** Updates what may change on an existing durable consumer, or adds it with explicit ack from the start. */
async function upsertConsumer(jsm: JetStreamManager, stream: string, name: string, mutable: Partial<ConsumerConfig>): Promise<void> {
  const exists = await jsm.consumers.info(stream, name).then(
    () => true,
    (err: unknown) => {
      if (isNotFound(err)) return false
      throw err
    },
  )
  if (exists) await jsm.consumers.update(stream, name, mutable)
  else await jsm.consumers.add(stream, { ...mutable, durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All })
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number; message?: string }
  return e?.name === 'StreamNotFoundError' || e?.name === 'ConsumerNotFoundError' || e?.code === 404 || /not found/i.test(e?.message ?? '')
}
