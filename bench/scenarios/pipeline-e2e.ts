// The pipeline end to end: N valid events wait in the stream, then the worker starts and the
// clock runs until every event is settled (acked) and its output is stored. Compared with the
// raw consume+ack ceiling, that says what the DAG, the output publishes and the acks cost.
// It runs twice: with the consumer exactly as `omni up` creates it, and with a single-filter
// consumer (a diagnostic: nats-server 2.10 serves multi-filter consumers far slower).
// Before them, on the same N events, the hand-written pipeline (pipeline-hand.ts): the
// end-to-end rows are divided by it (issue 15: target ≥ 0.8×); the consume ceiling stays in
// their details and notes as context.
import { startCpuMeter } from '../lib/machine.ts'
import type { ProfileHandle } from '../lib/profiler.ts'
import { prePublish } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, storedOn, type ConsumerShape } from '../lib/topology.ts'
import { bestRow, type BenchContext, type Scenario, type ScenarioResult } from '../lib/types.ts'
import { startBenchWorker } from '../lib/worker.ts'
import { HAND_ROW, HAND_VARIANTS, measureHand } from './pipeline-hand.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
/** issue 15's goal for the end-to-end rate ÷ the hand-written pipeline's */
const HAND_TARGET = 0.8

const SHAPES: readonly { shape: ConsumerShape; id: string; tag: string; title: string; note: string; noStages?: true }[] = [
  { shape: 'deployed', id: 'pipeline-e2e', tag: 'e2e-d', title: 'pipeline end to end', note: 'consumer as deployed (filter_subjects: source + redrive)' },
  { shape: 'single-filter', id: 'pipeline-e2e.single-filter', tag: 'e2e-s', title: 'pipeline e2e, 1-filter consumer', note: 'diagnostic: same consumer with one filter_subject' },
  // what the worker's own contract costs per event (decode and envelope check, catalog and
  // origin checks, output id and headers, publish, PubAck, ack) with no stage to run: the
  // least an Omni pipeline can cost, against a hand-written loop that runs three transforms
  { shape: 'deployed', id: 'pipeline-e2e.no-stages', tag: 'e2e-n', title: 'Omni worker, no stages', note: 'diagnostic: the same pipeline with its three stages removed (input → output), consumer as deployed', noStages: true },
]

/**
 * Every event costs at least one consume+ack and one publish with an id on the same two cores,
 * so the two ceilings, done one after the other, bound what any pipeline can reach here:
 * 1 / (1/consume + 1/publish). Printed beside the ratio so a target can be read against it.
 */
function serialBound(ctx: BenchContext): { rate: number; from: readonly string[] } | undefined {
  const consume = bestRow(ctx, 'consume-ceiling')
  const publish = ctx.results.get('publish-ceiling.fast-msgid')
  if (!consume || !publish || consume.rate <= 0 || publish.rate <= 0) return undefined
  return { rate: 1 / (1 / consume.rate + 1 / publish.rate), from: [consume.id, publish.id] }
}

/** The hand-written row as a denominator: only when it settled every event, each output once. */
function handDenominator(hand: ScenarioResult | undefined): { rate: number } | { missing: string } {
  if (!hand) return { missing: 'no hand-written row' }
  if (hand.details['exactlyOnce'] !== true || hand.details['completed'] !== true || hand.rate <= 0) return { missing: `the hand-written row did not settle every event once (${hand.notes})` }
  return { rate: hand.rate }
}

async function measure(ctx: BenchContext, variant: (typeof SHAPES)[number], hand: ScenarioResult | undefined): Promise<ScenarioResult> {
  const { outputSubject } = ctx.fixtures
  const capMs = ctx.sizes.e2eCapSeconds * 1000
  await freshPipelineTopology(ctx, variant.shape)
  let profile: ProfileHandle | undefined
  try {
    const filled = await prePublish(ctx, `${ctx.runId}-${variant.tag}`, ctx.sizes.events, `e2e ${variant.shape}: pre-publishing`)
    const { expected } = filled
    const bar = ctx.progress(`e2e ${variant.shape}: pipeline`, expected)
    // started before the clock, as its own start costs a few ms; the worker is in this process
    profile = await ctx.profiler?.start(variant.id)
    const cpu = startCpuMeter(ctx.serverPid)
    const started = performance.now()
    const w = await startBenchWorker(ctx, variant.id, undefined, variant.noStages ? { ...ctx.fixtures.pipeline, levels: [] } : ctx.fixtures.pipeline)
    const ticker = setInterval(() => bar.update(w.acked), 200)
    let settledAt: number | undefined
    let outputs = 0
    let acked = 0
    let finishedAt: number
    try {
      settledAt = await w.ackedAtLeast(expected, capMs)
      finishedAt = settledAt ?? performance.now()
      acked = w.acked
      // outputs are durable before their source is acked, so this normally holds at once and
      // the clock stops at the last ack; otherwise it runs until they are all stored
      outputs = await storedOn(ctx, outputSubject)
      if (settledAt !== undefined && outputs < expected) {
        const until = performance.now() + 5000
        while (outputs < expected && performance.now() < until) {
          await sleep(20)
          outputs = await storedOn(ctx, outputSubject)
        }
        finishedAt = performance.now()
      }
    } finally {
      clearInterval(ticker)
      bar.update(w.acked)
      bar.stop()
    }
    const cpuShare = cpu.stop()
    const profiled = await profile?.stop(acked)
    const stats = w.worker.stats()
    const failures = w.failures
    await w.close()

    const seconds = (finishedAt - started) / 1000
    const rate = acked / seconds
    const best = bestRow(ctx, 'consume-ceiling')
    const ceiling = best?.rate
    const bound = serialBound(ctx)
    const denominator = handDenominator(hand)
    const toHand = 'rate' in denominator ? round(rate / denominator.rate) : undefined
    const problems = [
      settledAt === undefined ? `STOPPED at the ${ctx.sizes.e2eCapSeconds} s cap: ${acked} of ${expected} settled` : '',
      settledAt !== undefined && outputs < expected ? `only ${outputs} of ${expected} outputs stored` : '',
      failures > 0 ? `${failures} retried/dead-lettered` : '',
    ]
    return {
      id: variant.id,
      scenario: 'pipeline-e2e',
      title: variant.title,
      events: acked,
      seconds: round(seconds, 3),
      rate: Math.round(rate),
      ...(toHand !== undefined ? { ratio: toHand, ratioTo: HAND_ROW } : {}),
      notes: [
        toHand === undefined
          ? `no ratio: ${'missing' in denominator ? denominator.missing : ''}`
          : variant.noStages
            ? `no target (not the bench pipeline): what any Omni pipeline costs at least, ${toHand}× the hand-written one with its three transforms`
            : `target ≥ ${HAND_TARGET}× hand-written: ${toHand >= HAND_TARGET ? 'met' : 'MISSED'}`,
        `${variant.note}; ${filled.bytes} B events, ${variant.noStages ? 'no stages' : '3 stages'} + 1 output`,
        ceiling ? `${round(rate / ceiling)}× consume ceiling` : '',
        `CPU bench ${cpuShare.bench}${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}`} core`,
        profiled ? `under the CPU profiler (slower): ${profiled.busyUsPerEvent} µs/event on the JS thread` : '',
        bound ? `raw bound ${Math.round(bound.rate)}/s (${round(bound.rate / (ceiling ?? bound.rate))}× consume; e2e = ${round(rate / bound.rate)}× of it)` : '',
        ...problems,
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        consumer: variant.shape,
        ...(toHand !== undefined ? { ratioToRow: HAND_ROW, ...(variant.noStages ? {} : { target: HAND_TARGET, targetMet: toHand >= HAND_TARGET }) } : {}),
        ...(ceiling ? { ratioToConsumeCeiling: round(rate / ceiling), consumeCeilingRow: best?.id } : {}),
        ...(bound ? { rawSerialBound: { rate: Math.round(bound.rate), from: bound.from, ratioOfBound: round(rate / bound.rate) } } : {}),
        expected,
        completed: settledAt !== undefined,
        outputsStored: outputs,
        inputBytes: filled.bytes,
        prePublishSeconds: round(filled.seconds, 3),
        workerStats: stats,
        failures,
        cpu: cpuShare,
        ...(profiled ? { profile: { file: profiled.file, busyUsPerEvent: profiled.busyUsPerEvent } } : {}),
      },
    }
  } finally {
    await profile?.discard()
    await cleanPipelineTopology(ctx)
  }
}

export const pipelineE2e: Scenario = {
  id: 'pipeline-e2e',
  title: 'pipeline end to end (trust → enrich → classify → output)',
  async run(ctx) {
    // the denominators first, so each end-to-end row is divided by a figure of the same run
    const hand: ScenarioResult[] = []
    for (const v of HAND_VARIANTS) hand.push(await measureHand(ctx, v))
    const rows: ScenarioResult[] = []
    for (const v of SHAPES) rows.push(await measure(ctx, v, hand.find((r) => r.id === HAND_ROW)))
    // the hand-written rows against the raw ceiling, as context; the js.publish() loop also against the expert's
    const ceiling = bestRow(ctx, 'consume-ceiling')
    const expert = hand.find((r) => r.id === HAND_ROW)
    const placed = hand.map((r) => ({
      ...r,
      ...(ceiling ? { ratio: round(r.rate / ceiling.rate), ratioTo: 'consume' } : {}),
      ...(r !== expert && expert && expert.rate > 0 ? { notes: `${round(r.rate / expert.rate)}× ${HAND_ROW}; ${r.notes}` } : {}),
    }))
    return [...rows, ...placed]
  },
}
