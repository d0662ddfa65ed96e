// Overload: a separate process publishes at twice the end-to-end rate while the worker runs.
// The backlog belongs in the stream, not in the worker: its pull pauses at maxInFlight and the
// publisher's window bounds outputs in flight, so the worker's memory should stay flat.
import { runGenerator } from '../lib/generator.ts'
import { MB, round, slope } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, pipelineBacklog } from '../lib/topology.ts'
import { maxE2eRate, type Scenario } from '../lib/types.ts'
import { startBenchWorker } from '../lib/worker.ts'

const FALLBACK_RATE = 2000
const SAMPLE_MS = 250
/** heap growth below this over the second half counts as flat */
const FLAT_MB_PER_MIN = 5

interface Sample {
  readonly t: number
  readonly rss: number
  readonly heapUsed: number
  readonly acked: number
  readonly inFlight: number
}

export const overload: Scenario = {
  id: 'overload',
  title: 'memory under 2× the end-to-end rate',
  async run(ctx) {
    const best = maxE2eRate(ctx)
    const e2e = best?.rate
    const rate = Math.max(1, Math.round((e2e ?? FALLBACK_RATE) * 2))
    const durationMs = ctx.sizes.overloadSeconds * 1000
    await freshPipelineTopology(ctx)
    const w = await startBenchWorker(ctx, 'overload')
    const bar = ctx.progress('overload', ctx.sizes.overloadSeconds)
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
        run: `${ctx.runId}-overload`,
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
      const secondHalf = samples.filter((s) => s.t >= last.t / 2)
      const heapSlope = slope(secondHalf.map((s) => [s.t, s.heapUsed] as const)) * 60
      const rssSlope = slope(secondHalf.map((s) => [s.t, s.rss] as const)) * 60
      const peakRss = Math.max(...samples.map((s) => s.rss))
      const peakHeap = Math.max(...samples.map((s) => s.heapUsed))
      const peakInFlight = Math.max(...samples.map((s) => s.inFlight))
      const processed = last.acked - first.acked
      const seconds = last.t - first.t
      const flat = heapSlope < FLAT_MB_PER_MIN
      return [
        {
          id: 'overload',
          scenario: 'overload',
          title: 'overload at 2× e2e rate',
          events: processed,
          seconds: round(seconds, 3),
          rate: Math.round(processed / seconds),
          ...(e2e ? { ratio: round(processed / seconds / e2e), ratioTo: 'e2e' } : {}),
          notes: [
            `offered ${rate}/s = ${best ? `2× ${best.id}` : 'fallback'} (sent ${Math.round(report.achievedRate)}/s), consumer as deployed; RSS ${first.rss}→peak ${peakRss} MB, heap peak ${peakHeap} MB`,
            `2nd-half slope heap ${round(heapSlope, 1)} MB/min, RSS ${round(rssSlope, 1)} MB/min (${flat ? 'bounded' : 'GROWING'})`,
            `worker in flight ≤ ${peakInFlight}, backlog ${backlog} left in the stream`,
            report.failed > 0 ? `${report.failed} publishes failed (${report.firstError})` : '',
            w.failures > 0 ? `${w.failures} retried/dead-lettered` : '',
          ]
            .filter(Boolean)
            .join('; '),
          details: {
            offeredRate: rate,
            sizedBy: best?.id ?? 'fallback',
            generator: { sent: report.sent, acked: report.acked, achievedRate: round(report.achievedRate), maxBehind: report.maxBehind },
            memoryMB: { startRss: first.rss, peakRss, startHeap: first.heapUsed, peakHeap },
            slopeMBPerMin: { heapUsed: round(heapSlope, 2), rss: round(rssSlope, 2) },
            bounded: flat,
            peakInFlight,
            backlog,
            sampleMs: SAMPLE_MS,
            samples,
          },
        },
      ]
    } finally {
      clearInterval(sampler)
      bar.stop()
      await w.close()
      await cleanPipelineTopology(ctx)
    }
  },
}
