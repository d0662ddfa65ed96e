// Overload: a separate process publishes at twice the end-to-end rate while the worker runs.
// The backlog belongs in the stream, not in the worker: its pull pauses at maxInFlight and the
// publisher's window bounds outputs in flight, so the worker's memory should stay flat. Runs
// with the consumer as deployed and with a single-filter one (there the worker is the
// bottleneck, which is what exercises its backpressure).
import { runGenerator } from '../lib/generator.ts'
import { MB, round, slope } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, pipelineBacklog, type ConsumerShape } from '../lib/topology.ts'
import { deployedE2e, type BenchContext, type Scenario, type ScenarioResult } from '../lib/types.ts'
import { startBenchWorker } from '../lib/worker.ts'

const FALLBACK_RATE = 2000
const SAMPLE_MS = 250
/**
 * The heap is a GC sawtooth, so a straight-line slope over a short run says little. Memory
 * counts as bounded when the last third of the run peaks no higher than the middle third
 * (with 25% + 8 MB of slack for where the sawtooth happens to be).
 */
const BOUNDED_FACTOR = 1.25
const BOUNDED_SLACK_MB = 8

interface Sample {
  readonly t: number
  readonly rss: number
  readonly heapUsed: number
  readonly acked: number
  readonly inFlight: number
}

const SHAPES: readonly { shape: ConsumerShape; id: string; title: string }[] = [
  { shape: 'deployed', id: 'overload', title: 'overload at 2× e2e rate' },
  { shape: 'single-filter', id: 'overload.single-filter', title: 'overload 2×, 1-filter consumer' },
]

async function measure(ctx: BenchContext, variant: (typeof SHAPES)[number]): Promise<ScenarioResult> {
  const best = deployedE2e(ctx)
  const e2e = best?.rate
  const rate = Math.max(1, Math.round((e2e ?? FALLBACK_RATE) * 2))
  const durationMs = ctx.sizes.overloadSeconds * 1000
  await freshPipelineTopology(ctx, variant.shape)
  const w = await startBenchWorker(ctx, variant.id)
  const bar = ctx.progress(`overload ${variant.shape}`, ctx.sizes.overloadSeconds)
  const samples: Sample[] = []
  const started = performance.now()
  const sample = () => {
    const m = process.memoryUsage()
    const t = (performance.now() - started) / 1000
    samples.push({ t: round(t, 3), rss: round(m.rss / MB, 1), heapUsed: round(m.heapUsed / MB, 1), acked: w.acked, inFlight: w.worker.stats().inFlight })
    bar.update(Math.min(ctx.sizes.overloadSeconds, Math.floor(t)))
  }
  sample()
  const sampler = setInterval(sample, SAMPLE_MS)
  try {
    const report = await runGenerator({
      url: ctx.url,
      run: `${ctx.runId}-${variant.shape}`,
      rate,
      durationMs,
      warmupMs: 0,
      drainMs: 0,
      timeoutMs: durationMs * 2 + 20_000,
    })
    clearInterval(sampler)
    sample()
    if (report.type === 'error') throw new Error(report.message)
    const backlog = await pipelineBacklog(ctx).catch(() => -1)

    const first = samples[0] as Sample
    const last = samples.at(-1) as Sample
    const thirds = [0, 1, 2].map((i) => samples.filter((s) => s.t >= (last.t * i) / 3 && s.t <= (last.t * (i + 1)) / 3))
    const peak = (list: readonly Sample[], key: 'rss' | 'heapUsed') => Math.max(0, ...list.map((s) => s[key]))
    const heapPeaks = thirds.map((l) => peak(l, 'heapUsed'))
    const rssPeaks = thirds.map((l) => peak(l, 'rss'))
    const within = (late: number, mid: number) => late <= mid * BOUNDED_FACTOR + BOUNDED_SLACK_MB
    const bounded = within(heapPeaks[2] ?? 0, heapPeaks[1] ?? 0) && within(rssPeaks[2] ?? 0, rssPeaks[1] ?? 0)
    const secondHalf = samples.filter((s) => s.t >= last.t / 2)
    const heapSlope = slope(secondHalf.map((s) => [s.t, s.heapUsed] as const)) * 60
    const rssSlope = slope(secondHalf.map((s) => [s.t, s.rss] as const)) * 60
    const peakRss = Math.max(...rssPeaks)
    const peakHeap = Math.max(...heapPeaks)
    const peakInFlight = Math.max(...samples.map((s) => s.inFlight))
    const processed = last.acked - first.acked
    const seconds = last.t - first.t
    return {
      id: variant.id,
      scenario: 'overload',
      title: variant.title,
      events: processed,
      seconds: round(seconds, 3),
      rate: Math.round(processed / seconds),
      ...(e2e ? { ratio: round(processed / seconds / e2e), ratioTo: 'e2e' } : {}),
      notes: [
        `offered ${rate}/s = ${best ? `2× ${best.id}` : 'fallback'} (sent ${Math.round(report.achievedRate)}/s), consumer ${variant.shape}; RSS ${first.rss}→peak ${peakRss} MB, heap peak ${peakHeap} MB`,
        `peaks by thirds: heap ${heapPeaks.join('/')} MB, RSS ${rssPeaks.join('/')} MB (${bounded ? 'bounded' : 'STILL GROWING'})`,
        `worker in flight ≤ ${peakInFlight}, backlog ${backlog} left in the stream`,
        report.failed > 0 ? `${report.failed} publishes failed (${report.firstError})` : '',
        w.failures > 0 ? `${w.failures} retried/dead-lettered` : '',
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        offeredRate: rate,
        sizedBy: best?.id ?? 'fallback',
        consumer: variant.shape,
        generator: { target: report.target, sent: report.sent, acked: report.acked, achievedRate: round(report.achievedRate), maxBehind: report.maxBehind },
        memoryMB: { startRss: first.rss, peakRss, startHeap: first.heapUsed, peakHeap },
        peaksByThirdMB: { heapUsed: heapPeaks, rss: rssPeaks },
        slopeMBPerMinSecondHalf: { heapUsed: round(heapSlope, 2), rss: round(rssSlope, 2) },
        bounded,
        boundedRule: `last third's peak ≤ middle third's × ${BOUNDED_FACTOR} + ${BOUNDED_SLACK_MB} MB, for heap and RSS`,
        peakInFlight,
        backlog,
        sampleMs: SAMPLE_MS,
        samples,
      },
    }
  } finally {
    clearInterval(sampler)
    bar.stop()
    await w.close()
    await cleanPipelineTopology(ctx)
  }
}

export const overload: Scenario = {
  id: 'overload',
  title: 'memory under 2× the end-to-end rate',
  async run(ctx) {
    const rows: ScenarioResult[] = []
    for (const v of SHAPES) rows.push(await measure(ctx, v))
    return rows
  },
}
