import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { consumerName, DLQ_STREAM, ensurePipelineConsumer, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import type { BenchContext } from './types.ts'

/** Subjects of the bench event types: the only part of OMNI_EVENTS the bench purges on a shared server. */
const BENCH_SUBJECTS = 'omni.evt.bench.>'

/** A file stream of its own for the raw ceilings, removed after the scenario. */
export interface RawStream {
  readonly name: string
  readonly subject: string
  remove(): Promise<void>
}

/** Creates `BENCH_<TAG>_<run>` capturing `bench.<run>.<tag>`, file storage, one replica. */
export async function createRawStream(ctx: BenchContext, tag: string): Promise<RawStream> {
  const name = `BENCH_${tag.toUpperCase()}_${ctx.runId}`.replace(/[^A-Za-z0-9_-]/g, '_')
  const subject = `bench.${ctx.runId}.${tag}`
  await ctx.jsm.streams.add({ name, subjects: [subject], storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: 1 })
  return { name, subject, remove: () => ctx.jsm.streams.delete(name).then(() => undefined, () => undefined) }
}

/** Adds a durable explicit-ack pull consumer that starts at the stream's first message. */
export async function addRawConsumer(ctx: BenchContext, stream: string, name: string, maxAckPending = 20_000): Promise<void> {
  await ctx.jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: maxAckPending })
}

/** How the pipeline's consumer is made: as `omni up` makes it, or with one filter subject. */
export type ConsumerShape = 'deployed' | 'single-filter'

/**
 * Gives a pipeline scenario a fresh start. On the bench's own server the events and dead-letter
 * streams are deleted and recreated; on a shared server (--nats) only the bench subjects are
 * purged, so nobody else's events are touched. Then the bench pipeline's consumer is recreated:
 * `deployed` uses ensurePipelineConsumer (source subjects plus the redrive subject, i.e.
 * `filter_subjects`); `single-filter` is the same consumer with only the source as
 * `filter_subject`, a diagnostic that isolates the server's cost of multi-filter consumers.
 */
export async function freshPipelineTopology(ctx: BenchContext, shape: ConsumerShape = 'deployed'): Promise<string> {
  const { jsm, fixtures } = ctx
  if (ctx.managed) {
    for (const name of [EVENTS_STREAM, DLQ_STREAM]) await jsm.streams.delete(name).catch(() => undefined)
    await ensureStreams(jsm)
  } else {
    await ensureStreams(jsm)
    await jsm.consumers.delete(EVENTS_STREAM, consumerName(fixtures.pipeline.name)).catch(() => undefined)
    await jsm.streams.purge(EVENTS_STREAM, { filter: BENCH_SUBJECTS })
  }
  const name = await ensurePipelineConsumer(jsm, { pipeline: fixtures.pipeline.name, sources: fixtures.pipeline.sources })
  if (shape === 'deployed') return name
  const { config } = await jsm.consumers.info(EVENTS_STREAM, name)
  await jsm.consumers.delete(EVENTS_STREAM, name)
  await jsm.consumers.add(EVENTS_STREAM, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: config.ack_wait,
    max_ack_pending: config.max_ack_pending,
    max_deliver: -1,
    filter_subject: fixtures.sourceSubject,
  })
  return name
}

/** Removes what the pipeline scenarios left behind on a shared server (the bench server goes away whole). */
export async function cleanPipelineTopology(ctx: BenchContext): Promise<void> {
  if (ctx.managed) return
  await ctx.jsm.consumers.delete(EVENTS_STREAM, consumerName(ctx.fixtures.pipeline.name)).catch(() => undefined)
  await ctx.jsm.streams.purge(EVENTS_STREAM, { filter: BENCH_SUBJECTS }).catch(() => undefined)
}

/** How many messages the events stream holds on `subject`. */
export async function storedOn(ctx: BenchContext, subject: string): Promise<number> {
  const info = await ctx.jsm.streams.info(EVENTS_STREAM, { subjects_filter: subject })
  return info.state.subjects?.[subject] ?? 0
}

/** Events the bench pipeline's consumer has not delivered yet (the backlog). */
export async function pipelineBacklog(ctx: BenchContext): Promise<number> {
  const info = await ctx.jsm.consumers.info(EVENTS_STREAM, consumerName(ctx.fixtures.pipeline.name))
  return info.num_pending
}
