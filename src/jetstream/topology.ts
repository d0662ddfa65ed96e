import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { omniError } from '../errors/mod.ts'
import { replicaChange, replicaRefusal } from './replicas.ts'
import { storageRefusal } from './storage-refusal.ts'
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
  /** the stream's duplicate window: a repeated Nats-Msg-Id inside it is dropped (default 10 min) */
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
   * the events stream's byte limit (default DEFAULT_MAX_BYTES; -1 = none): when it is reached the
   * stream refuses new events (discard: new) instead of deleting unprocessed ones
   */
  readonly maxBytes?: number
  /** the raw archive stream's byte limit (default DEFAULT_RAW_MAX_BYTES; -1 = none), also discard: new */
  readonly rawMaxBytes?: number
  /**
   * copies of each stream across a NATS cluster (1–5). Unset: a new stream gets 1 and an existing
   * one keeps its own. Set: a new stream gets it and an existing one with fewer is raised to it;
   * one with more is never lowered (see replicaChange)
   */
  readonly replicas?: number
  /**
   * `upsert` (the platform at start) brings existing streams to this configuration;
   * `create-missing` (CLI commands) only creates absent ones and leaves a running setup alone.
   */
  readonly mode?: 'upsert' | 'create-missing'
}

/**
 * Ten minutes: twice the age a signed webhook timestamp may have either way (MAX_SIGNATURE_AGE_S,
 * 300 s, in src/webhooks/auth.ts), so a replay of a signed delivery that the signature check still
 * accepts always lands inside the window and is dropped. JetStream keeps each message id of the
 * window in memory, measured at about 275 bytes an id: 160 MiB at a sustained 1000 events/s.
 */
export const DEFAULT_DUPLICATE_WINDOW_MS = 600_000
/** How long a consumer waits for an ack before it redelivers, unless configured. */
export const DEFAULT_ACK_WAIT_MS = 30_000
export const DEFAULT_MAX_MSG_SIZE = 1024 * 1024
/**
 * Largest raw archive message: a 1 MiB body grows when JSON-escaped inside its row (measured:
 * webhook JSON ×1.15, all quotes ×2, control characters ×6), so 8 MiB holds any body the API's
 * default 1 MiB limit admits, with its headers. The locally managed nats-server allows as much
 * (src/server/options.ts); a server with the 1 MiB default refuses larger publishes itself.
 */
export const RAW_MAX_MSG_SIZE = 8 * 1024 * 1024
const WEEK_MS = 7 * 24 * 3_600_000
const GIB = 1024 * 1024 * 1024
/**
 * Byte limits of a newly created events stream and raw archive: a flood (or a stuck consumer)
 * then meets a clear refusal (OMNI_ERR_STREAM_FULL) long before the disk is full, and nothing
 * already acknowledged is deleted to make room. Raise them with `omni up --stream-max-bytes`.
 */
export const DEFAULT_MAX_BYTES = 8 * GIB
export const DEFAULT_RAW_MAX_BYTES = 8 * GIB

/**
 * A byte limit with `discard: old` would delete acknowledged, unprocessed events to make room;
 * so a limit set on purpose always comes with `discard: new` (refuse the publish instead).
 */
const byteLimit = (maxBytes: number | undefined): Partial<StreamConfig> => (maxBytes === undefined ? {} : { max_bytes: maxBytes, discard: DiscardPolicy.New })

/**
 * Creates the streams that are missing. With `mode: 'upsert'` (the platform at start) an
 * existing stream gets what the platform needs to work (its subjects, the largest message, direct
 * reads) and the settings the caller gives explicitly; what an operator may have tuned on the
 * server (replicas, retention, limits, discard, the duplicate window) is kept as it is, and each
 * difference from the platform's defaults comes back as a warning to log. A configured replica
 * count raises an existing stream's and never lowers it (both said in a warning).
 */
export async function ensureStreams(jsm: JetStreamManager, opts: TopologyOptions = {}): Promise<string[]> {
  const updateExisting = opts.mode !== 'create-missing'
  const window = { duplicate_window: ns(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS) }
  const explicitWindow = opts.duplicateWindowMs !== undefined ? window : {}
  const streams: StreamPlan[] = [
    {
      name: EVENTS_STREAM,
      required: { subjects: [...EVENT_SUBJECTS], max_msg_size: opts.maxMsgSize ?? DEFAULT_MAX_MSG_SIZE, allow_direct: true },
      explicit: { ...explicitWindow, ...(opts.maxAgeMs !== undefined ? { max_age: ns(opts.maxAgeMs) } : {}), ...byteLimit(opts.maxBytes) },
      defaults: { ...window, max_age: ns(opts.maxAgeMs ?? WEEK_MS), ...byteLimit(opts.maxBytes ?? DEFAULT_MAX_BYTES) },
    },
    {
      name: DLQ_STREAM,
      required: { subjects: [`${DLQ_SUBJECT_PREFIX}.>`], allow_direct: true },
      explicit: explicitWindow,
      // dead letters wait for a human: keep them until redriven or the limits bite
      defaults: { ...window, max_age: 0 },
    },
    {
      name: RAW_STREAM,
      required: { subjects: [`${RAW_SUBJECT_PREFIX}.>`], max_msg_size: RAW_MAX_MSG_SIZE, allow_direct: true },
      // a provider retry inside the window is dropped here; a later one collapses in ClickHouse
      explicit: { ...explicitWindow, ...(opts.rawMaxAgeMs !== undefined ? { max_age: ns(opts.rawMaxAgeMs) } : {}), ...byteLimit(opts.rawMaxBytes) },
      defaults: { ...window, max_age: ns(opts.rawMaxAgeMs ?? WEEK_MS), ...byteLimit(opts.rawMaxBytes ?? DEFAULT_RAW_MAX_BYTES) },
    },
  ]
  const replicas = opts.replicas !== undefined ? { replicas: opts.replicas } : {}
  // Created or changed one after another, in this order: the server reserves each stream's byte
  // limit as it creates it, and creations side by side passed that check together (more reserved
  // than the server may store) or refused whichever stream came last, not the raw archive (seen
  // 2026-12-07). Only the waits for raised replica counts (up to 10 s each) run side by side: with
  // a server down, three of them one after another kept a start 30 s instead of 10 s.
  const finishes: (() => Promise<string[]>)[] = []
  for (const plan of streams) finishes.push(await applyStream(jsm, { updateExisting }, { ...plan, ...replicas }))
  return (await Promise.all(finishes.map((finish) => finish()))).flat()
}

/** The settings the platform gives a new stream, and which of them it may change on an existing one. */
export interface StreamPlan {
  readonly name: string
  /** what the platform cannot work without: applied to an existing stream too */
  readonly required: Partial<StreamConfig>
  /** what the caller set on purpose: applied to an existing stream too */
  readonly explicit: Partial<StreamConfig>
  /** the platform's defaults for a new stream; on an existing one a difference is only reported */
  readonly defaults: Partial<StreamConfig>
  /** the configured replica count: a new stream's, and what an existing one is raised to */
  readonly replicas?: number
}

const COMMON: Partial<StreamConfig> = { storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1 }

export async function upsertStream(jsm: JetStreamManager, opts: { updateExisting: boolean }, plan: StreamPlan): Promise<string[]> {
  return (await applyStream(jsm, opts, plan))()
}

/**
 * Creates or changes the stream of `plan`; what it returns waits for a raised replica count
 * (it never rejects) and gives the warnings.
 */
async function applyStream(jsm: JetStreamManager, { updateExisting }: { updateExisting: boolean }, plan: StreamPlan): Promise<() => Promise<string[]>> {
  const existing = await jsm.streams.info(plan.name).then(
    (info) => info.config,
    (err: unknown) => {
      if (isNotFound(err)) return undefined
      throw err
    },
  )
  const replicas = plan.replicas !== undefined ? { num_replicas: plan.replicas } : {}
  if (!existing) {
    const config = { ...COMMON, ...plan.defaults, ...plan.required, ...plan.explicit, ...replicas, name: plan.name }
    await jsm.streams.add(config).catch((err: unknown) => {
      throw replicaRefusal(err, plan.name, plan.replicas) ?? storageRefusal(err, plan.name, config.max_bytes) ?? err
    })
    return async () => []
  }
  if (!updateExisting) return async () => []
  const warnings: string[] = []
  // the replica count is the one setting that may grow but never shrink on its own
  const resize = replicaChange(plan.name, existing.num_replicas, plan.replicas)
  if (resize.message) warnings.push(resize.message)
  const wanted: Partial<StreamConfig> = { ...plan.required, ...plan.explicit, ...(resize.to !== undefined ? { num_replicas: resize.to } : {}) }
  const changes = (Object.keys(wanted) as (keyof StreamConfig)[]).filter((k) => JSON.stringify(existing[k]) !== JSON.stringify(wanted[k]))
  if (changes.length > 0) {
    await jsm.streams.update(plan.name, { ...existing, ...wanted }).catch((err: unknown) => {
      throw replicaRefusal(err, plan.name, resize.to) ?? storageRefusal(err, plan.name, wanted.max_bytes ?? existing.max_bytes) ?? err
    })
  }
  return async () => {
    if (resize.to !== undefined) {
      const late = await awaitReplicas(jsm, plan.name, resize.to)
      if (late) warnings.push(late)
    }
    const platform: Partial<StreamConfig> = { ...COMMON, ...plan.defaults }
    for (const k of Object.keys(platform) as (keyof StreamConfig)[]) {
      // a configured replica count was dealt with above, whichever way it went
      if (k in wanted || (k === 'num_replicas' && plan.replicas !== undefined) || JSON.stringify(existing[k]) === JSON.stringify(platform[k])) continue
      warnings.push(`stream ${plan.name} keeps ${k} = ${JSON.stringify(existing[k])} as set on the server (the platform would create it with ${JSON.stringify(platform[k])})`)
    }
    return warnings
  }
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
    ack_wait: ns(opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
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

/**
 * Updates what may change on an existing durable consumer, or adds it with explicit ack, from
 * the start of the stream unless `onCreate` says otherwise (it applies only to a new consumer:
 * an existing one keeps its position).
 */
export async function upsertConsumer(jsm: JetStreamManager, stream: string, name: string, mutable: Partial<ConsumerConfig>, onCreate: Partial<ConsumerConfig> = {}): Promise<void> {
  const existing = await jsm.consumers.info(stream, name).then(
    (info) => info.config,
    (err: unknown) => {
      if (isNotFound(err)) return undefined
      throw err
    },
  )
  if (existing) {
    // several workers start together on one consumer: an unchanged one is left alone
    const same = (Object.keys(mutable) as (keyof ConsumerConfig)[]).every((k) => JSON.stringify(existing[k]) === JSON.stringify(mutable[k]))
    if (same) return
    await jsm.consumers.update(stream, name, mutable)
  } else {
    await jsm.consumers.add(stream, { deliver_policy: DeliverPolicy.All, ...onCreate, ...mutable, durable_name: name, ack_policy: AckPolicy.Explicit })
  }
  await awaitConsumerLeader(jsm, stream, name)
}

/**
 * On a cluster, waits (bounded) until a consumer just created or changed has a leader: a pull
 * sent before that finds no responder (503), and the worker has to pull again (see
 * src/jetstream/tracked-consumer.ts). A single server answers at once.
 */
async function awaitConsumerLeader(jsm: JetStreamManager, stream: string, name: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const info = await jsm.consumers.info(stream, name).catch(() => undefined)
    if (info && (!info.cluster || info.cluster.leader)) return
    if (Date.now() > until) throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `consumer ${name} on stream ${stream} has no leader after ${timeoutMs} ms: are enough servers of the cluster up?`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number; message?: string }
  return e?.name === 'StreamNotFoundError' || e?.name === 'ConsumerNotFoundError' || e?.code === 404 || /not found/i.test(e?.message ?? '')
}

/**
 * Applies replicaChange to streams that already exist, such as the KV buckets' (`KV_<bucket>`):
 * their creators pass the count to a new bucket only. Absent streams are skipped. Returns the
 * lines to log.
 */
export async function reconcileReplicas(jsm: JetStreamManager, streams: readonly string[], configured: number | undefined): Promise<string[]> {
  if (configured === undefined) return []
  const messages: string[] = []
  for (const name of streams) {
    const info = await jsm.streams.info(name).catch((err: unknown) => {
      if (isNotFound(err)) return undefined
      throw err
    })
    if (!info) continue
    const change = replicaChange(name, info.config.num_replicas, configured)
    if (change.to !== undefined) {
      await jsm.streams.update(name, { ...info.config, num_replicas: change.to }).catch((err: unknown) => {
        throw replicaRefusal(err, name, change.to) ?? err
      })
      const late = await awaitReplicas(jsm, name, change.to)
      if (late) messages.push(late)
    }
    if (change.message) messages.push(change.message)
  }
  return messages
}

/**
 * Waits (bounded) until a stream whose replica count was just raised has a leader and every new
 * copy is current. Measured on a 3-node cluster (nats-server 2.15): for about 50 ms after the
 * update a publish goes unanswered (the stream is moved to a new raft group); the platform's
 * publishes retry, but starting the workers on a stream still moving only adds those retries.
 * A large stream may take longer to copy: then a line to log comes back, and the start goes on.
 */
export async function awaitReplicas(jsm: JetStreamManager, stream: string, replicas: number, timeoutMs = 10_000): Promise<string | undefined> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const info = await jsm.streams.info(stream).catch(() => undefined)
    const c = info?.cluster as (NonNullable<typeof info>['cluster'] & { desired?: unknown }) | undefined
    const followers = c?.replicas ?? []
    if (c?.leader && c.desired === undefined && followers.length === replicas - 1 && followers.every((r) => r.current)) return undefined
    if (Date.now() > until) {
      return `stream ${stream}: ${followers.filter((r) => r.current).length + (c?.leader ? 1 : 0)} of its ${replicas} copies current after ${timeoutMs} ms (leader ${c?.leader ?? 'none'}); the rest catch up in the background`
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
