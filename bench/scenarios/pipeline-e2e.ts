// The pipeline end to end: N valid events wait in the stream, then the worker starts and the
// clock runs until every event is settled (acked) and its output is stored. Compared with the
// raw consume+ack ceiling, that says what the DAG, the output publishes and the acks cost.
// It runs twice: with the consumer exactly as `omni up` creates it, and with a single-filter
// consumer (a diagnostic: nats-server 2.10 serves multi-filter consumers far slower).
import { startCpuMeter } from '../lib/machine.ts'
import { prePublish } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, storedOn, type ConsumerShape } from '../lib/topology.ts'
import { bestRow, type BenchContext, type Scenario, type ScenarioResult } from '../lib/types.ts'
import { startBenchWorker } from '../lib/worker.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const SHAPES: readonly { shape: ConsumerShape; id: string; tag: string; title: string; note: string }[] = [
  { shape: 'deployed', id: 'pipeline-e2e', tag: 'e2e-d', title: 'pipeline end to end', note: 'consumer as deployed (filter_subjects: source + redrive)' },
  { shape: 'single-filter', id: 'pipeline-e2e.single-filter', tag: 'e2e-s', title: 'pipeline e2e, 1-filter consumer', note: 'diagnostic: same consumer with one filter_subject' },
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

async function measure(ctx: BenchContext, variant: (typeof SHAPES)[number]): Promise<ScenarioResult> {
  const { outputSubject } = ctx.fixtures
  const capMs = ctx.sizes.e2eCapSeconds * 1000
  await freshPipelineTopology(ctx, variant.shape)
  try {
    const filled = await prePublish(ctx, `${ctx.runId}-${variant.tag}`, ctx.sizes.events, `e2e ${variant.shape}: pre-publishing`)
    const { expected } = filled
    const bar = ctx.progress(`e2e ${variant.shape}: pipeline`, expected)
    const cpu = startCpuMeter(ctx.serverPid)
    const started = performance.now()
    const w = await startBenchWorker(ctx, variant.id)
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
    const stats = w.worker.stats()
    const failures = w.failures
    await w.close()

    const seconds = (finishedAt - started) / 1000
    const rate = acked / seconds
    const best = bestRow(ctx, 'consume-ceiling')
    const ceiling = best?.rate
    const bound = serialBound(ctx)
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
      ...(ceiling ? { ratio: round(rate / ceiling), ratioTo: 'consume' } : {}),
      notes: [
        `${variant.note}; ${filled.bytes} B events, 3 stages + 1 output`,
        `CPU bench ${cpuShare.bench}${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}`} core`,
        bound ? `raw bound ${Math.round(bound.rate)}/s (${round(bound.rate / (ceiling ?? bound.rate))}× consume; e2e = ${round(rate / bound.rate)}× of it)` : '',
        ...problems,
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        consumer: variant.shape,
        ratioToRow: best?.id,
        ...(bound ? { rawSerialBound: { rate: Math.round(bound.rate), from: bound.from, ratioOfBound: round(rate / bound.rate) } } : {}),
        expected,
        completed: settledAt !== undefined,
        outputsStored: outputs,
        inputBytes: filled.bytes,
        prePublishSeconds: round(filled.seconds, 3),
        workerStats: stats,
        failures,
        cpu: cpuShare,
      },
    }
  } finally {
    await cleanPipelineTopology(ctx)
  }
}

export const pipelineE2e: Scenario = {
  id: 'pipeline-e2e',
  title: 'pipeline end to end (trust → enrich → classify → output)',
  async run(ctx) {
    const rows: ScenarioResult[] = []
    for (const v of SHAPES) rows.push(await measure(ctx, v))
    return rows
  },
}
