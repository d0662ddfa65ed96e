import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'

/** Names and subjects of the JetStream backbone, in one place. */
export const EVENTS_STREAM = 'OMNI_EVENTS'
export const DLQ_STREAM = 'OMNI_DLQ'
export const EVENT_SUBJECTS = ['omni.evt.>', 'omni.cmd.>', 'omni.redrive.>'] as const
export const DLQ_SUBJECT_PREFIX = 'omni.dlq'

/** Each pipeline's dead letters go to their own subject, so list/redrive can filter by it. */
export const dlqSubject = (pipeline: string) => `${DLQ_SUBJECT_PREFIX}.${pipeline}`
/** Redriven events go to a subject only their own pipeline consumes. */
export const redriveSubject = (pipeline: string) => `omni.redrive.${pipeline}`
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
   * `upsert` (the platform at start) brings existing streams to this configuration;
   * `create-missing` (CLI commands) only creates absent ones and leaves a running setup alone.
   */
  readonly mode?: 'upsert' | 'create-missing'
}

export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000
export const DEFAULT_MAX_MSG_SIZE = 1024 * 1024

/** Creates the events and dead-letter streams, or updates them to this configuration. */
export async function ensureStreams(jsm: JetStreamManager, opts: TopologyOptions = {}): Promise<void> {
  const common = { storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, allow_direct: true, num_replicas: 1 }
  const updateExisting = opts.mode !== 'create-missing'
  await upsertStream(jsm, updateExisting, {
    ...common,
    name: EVENTS_STREAM,
    subjects: [...EVENT_SUBJECTS],
    duplicate_window: ns(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    max_msg_size: opts.maxMsgSize ?? DEFAULT_MAX_MSG_SIZE,
    max_age: ns(opts.maxAgeMs ?? 7 * 24 * 3_600_000),
  })
  await upsertStream(jsm, updateExisting, {
    ...common,
    name: DLQ_STREAM,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    duplicate_window: ns(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    // dead letters wait for a human: keep them until redriven or the limits bite
    max_age: 0,
  })
}

async function upsertStream(jsm: JetStreamManager, updateExisting: boolean, config: Partial<StreamConfig> & { name: string }): Promise<void> {
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
  const exists = await jsm.consumers.info(EVENTS_STREAM, name).then(
    () => true,
    (err: unknown) => {
      if (isNotFound(err)) return false
      throw err
    },
  )
  if (exists) await jsm.consumers.update(EVENTS_STREAM, name, mutable)
  else await jsm.consumers.add(EVENTS_STREAM, { ...mutable, durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All })
  return name
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number; message?: string }
  return e?.name === 'StreamNotFoundError' || e?.name === 'ConsumerNotFoundError' || e?.code === 404 || /not found/i.test(e?.message ?? '')
}
