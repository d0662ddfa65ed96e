// The hand-written pipeline's rows of the pipeline-e2e scenario (bench/hand-pipeline/): the same
// N events wait in the same stream as for the Omni worker, the hand-written loop starts in this
// process on a connection of its own (as the bench worker does), and the clock runs until
// every input is acked. Then every output is read back: each input must have exactly one,
// with all three transforms applied.
import type { JetStreamClient } from '@nats-io/jetstream'
import { startHandPipeline, type HandPipelineStats, type PublishStyle } from '../hand-pipeline/pipeline.ts'
import { DEFAULT_ACK_WAIT_MS, EVENTS_STREAM, consumerName } from '../../src/jetstream/topology.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { prePublish } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, storedOn } from '../lib/topology.ts'
import type { BenchContext, ScenarioResult } from '../lib/types.ts'

/** The id of the row the end-to-end rows are divided by (issue 15's denominator 1). */
export const HAND_ROW = 'pipeline.hand'

/**
 * The expert's choices, each the Omni worker's own where a user would choose the same: the pull
 * batch of the worker (256), the deployed consumer's max_ack_pending (4096) and ack_wait.
 */
export const HAND_BATCH = 256
export const HAND_MAX_ACK_PENDING = 4096
const HAND_CONSUMER = 'bench_hand'

export const HAND_VARIANTS: readonly { id: string; style: PublishStyle; tag: string; title: string; note: string }[] = [
  { id: HAND_ROW, style: 'reply-inbox', tag: 'hand-r', title: 'hand-written pipeline', note: 'nats.js only: consume callback, core publish with a reply inbox per output' },
  { id: 'pipeline.hand.js-publish', style: 'js-publish', tag: 'hand-j', title: 'hand-written, js.publish()', note: 'context: the same loop with js.publish() per output, none awaited in series' },
]

/** What reading the outputs back found. */
export interface OutputCheck {
  readonly read: number
  readonly distinct: number
  /** outputs missing a transform (playbook, meta.origin or class) */
  readonly untransformed: number
}

/** Reads every output on `subject` once, without acknowledging anything. */
async function checkOutputs(js: JetStreamClient, subject: string, total: number): Promise<OutputCheck> {
  const ids = new Set<string>()
  let read = 0
  let untransformed = 0
  if (total === 0) return { read, distinct: 0, untransformed }
  const consumer = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [subject] })
  let empty = 0
  // bounded: each fetch ends after `expires`; a few empty ones in a row end the read
  for (let round = 0; round < 100_000 && read < total && empty < 3; round++) {
    const batch = await consumer.fetch({ max_messages: Math.min(4096, total - read), expires: 2000 })
    let got = 0
    for await (const m of batch) {
      got++
      const e = m.json<{ id?: string; class?: string; data?: { playbook?: string; meta?: { origin?: string } } }>()
      if (typeof e.id === 'string') ids.add(e.id)
      if (e.data?.playbook !== 'bench' || e.data.meta?.origin !== 'omni-bench' || (e.class !== 'conversation' && e.class !== 'voice')) untransformed++
    }
    read += got
    empty = got === 0 ? empty + 1 : 0
  }
  await consumer.delete().catch(() => undefined)
  return { read, distinct: ids.size, untransformed }
}

/** Measures one hand-written variant on the same N events the Omni worker gets. */
export async function measureHand(ctx: BenchContext, variant: (typeof HAND_VARIANTS)[number]): Promise<ScenarioResult> {
  const { outputSubject, sourceSubject } = ctx.fixtures
  await freshPipelineTopology(ctx)
  // the Omni worker's consumer is not needed here: the hand-written loop makes its own
  await ctx.jsm.consumers.delete(EVENTS_STREAM, consumerName(ctx.fixtures.pipeline.name)).catch(() => undefined)
  try {
    const filled = await prePublish(ctx, `${ctx.runId}-${variant.tag}`, ctx.sizes.events, `${variant.id}: pre-publishing`)
    const { expected } = filled
    const bar = ctx.progress(`${variant.id}: pipeline`, expected)
    const cpu = startCpuMeter(ctx.serverPid)
    const started = performance.now()
    const hand = await startHandPipeline({
      url: ctx.url,
      stream: EVENTS_STREAM,
      consumer: HAND_CONSUMER,
      source: sourceSubject,
      output: outputSubject,
      style: variant.style,
      batch: HAND_BATCH,
      maxAckPending: HAND_MAX_ACK_PENDING,
      ackWaitMs: DEFAULT_ACK_WAIT_MS,
    })
    const ticker = setInterval(() => bar.update(hand.stats().acked), 200)
    let settledAt: number | undefined
    let finishedAt: number
    let cpuShare: ReturnType<typeof cpu.stop>
    let stats: HandPipelineStats
    try {
      settledAt = await hand.ackedAtLeast(expected, ctx.sizes.e2eCapSeconds * 1000)
      finishedAt = settledAt ?? performance.now()
      cpuShare = cpu.stop()
      stats = hand.stats()
    } finally {
      clearInterval(ticker)
      bar.update(hand.stats().acked)
      bar.stop()
      await hand.close()
    }
    // outputs are stored before their inputs are acked, so all of them are there now
    const stored = await storedOn(ctx, outputSubject)
    const check = await checkOutputs(ctx.js, outputSubject, stored)
    const seconds = (finishedAt - started) / 1000
    const exactlyOnce = stored === expected && check.read === expected && check.distinct === expected && check.untransformed === 0
    const problems = [
      settledAt === undefined ? `STOPPED at the ${ctx.sizes.e2eCapSeconds} s cap: ${stats.acked} of ${expected} settled` : '',
      exactlyOnce ? '' : `outputs: ${stored} stored, ${check.distinct} distinct, ${check.untransformed} untransformed, for ${expected} inputs`,
      stats.failed + stats.poison + stats.lost + stats.refused > 0 ? `failed ${stats.failed}, poison ${stats.poison}, lost ${stats.lost}, refused ${stats.refused}` : '',
    ]
    return {
      id: variant.id,
      scenario: 'pipeline-e2e',
      title: variant.title,
      events: stats.acked,
      seconds: round(seconds, 3),
      rate: Math.round(stats.acked / seconds),
      notes: [
        `${variant.note}; ${filled.bytes} B events, 3 transforms + 1 output; pull batch ${HAND_BATCH}, ${HAND_MAX_ACK_PENDING} in flight`,
        `CPU bench ${cpuShare.bench}${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}`} core`,
        ...problems,
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        style: variant.style,
        batch: HAND_BATCH,
        maxAckPending: HAND_MAX_ACK_PENDING,
        expected,
        completed: settledAt !== undefined,
        outputsStored: stored,
        outputCheck: check,
        exactlyOnce,
        stats,
        inputBytes: filled.bytes,
        prePublishSeconds: round(filled.seconds, 3),
        cpu: cpuShare,
      },
    }
  } finally {
    await ctx.jsm.consumers.delete(EVENTS_STREAM, HAND_CONSUMER).catch(() => undefined)
    await cleanPipelineTopology(ctx)
  }
}
