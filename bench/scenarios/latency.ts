// Latency at half load: a separate process publishes at half the measured end-to-end rate,
// stamping each event, and times publish → output on a core subscription to the output subject.
import { runGenerator } from '../lib/generator.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology } from '../lib/topology.ts'
import { deployedE2e, type Scenario } from '../lib/types.ts'
import { startBenchWorker } from '../lib/worker.ts'

/** used when the end-to-end scenario did not run (e.g. --only latency) */
const FALLBACK_RATE = 2000
const TARGET_P99_MS = 50

export const latency: Scenario = {
  id: 'latency',
  title: 'publish → output latency at 0.5× the end-to-end rate',
  async run(ctx) {
    const best = deployedE2e(ctx)
    const e2e = best?.rate
    const rate = Math.max(1, Math.round((e2e ?? FALLBACK_RATE) / 2))
    const durationMs = ctx.sizes.latencySeconds * 1000
    await freshPipelineTopology(ctx)
    const w = await startBenchWorker(ctx, 'latency')
    const bar = ctx.progress('latency', ctx.sizes.latencySeconds)
    const started = performance.now()
    const ticker = setInterval(() => bar.update(Math.min(ctx.sizes.latencySeconds, Math.floor((performance.now() - started) / 1000))), 250)
    try {
      const report = await runGenerator({
        url: ctx.url,
        run: `${ctx.runId}-latency`,
        rate,
        durationMs,
        warmupMs: ctx.sizes.warmupSeconds * 1000,
        latencySubject: ctx.fixtures.outputSubject,
        drainMs: 5000,
        timeoutMs: durationMs * 2 + 20_000,
      })
      if (report.type === 'error') throw new Error(report.message)
      await w.ackedAtLeast(report.acked, 5000)
      const lat = report.latency
      if (!lat) throw new Error('the load generator returned no latencies')
      const problems = [
        report.failed > 0 ? `${report.failed} publishes failed (${report.firstError})` : '',
        lat.missing > 0 ? `${lat.missing} outputs not seen` : '',
        w.failures > 0 ? `${w.failures} retried/dead-lettered` : '',
        report.achievedRate < rate * 0.95 ? `generator reached only ${Math.round(report.achievedRate)}/s` : '',
      ]
      return [
        {
          id: 'latency',
          scenario: 'latency',
          title: 'latency at 0.5× e2e rate',
          events: report.acked,
          seconds: round(report.publishSeconds, 3),
          rate: Math.round(report.achievedRate),
          ...(e2e ? { ratio: round(report.achievedRate / e2e), ratioTo: 'e2e' } : {}),
          notes: [
            `p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms (target p99 ≤ ${TARGET_P99_MS} ms: ${lat.p99 <= TARGET_P99_MS ? 'met' : 'MISSED'})`,
            `paced at ${rate}/s = ${best ? `0.5× ${best.id}` : 'fallback (e2e did not run)'}; consumer as deployed; first ${ctx.sizes.warmupSeconds} s not counted`,
            ...problems,
          ]
            .filter(Boolean)
            .join('; '),
          details: { targetRate: rate, sizedBy: best?.id ?? 'fallback', latencyMs: lat, targetP99Ms: TARGET_P99_MS, maxBehind: report.maxBehind, workerAcked: w.acked, workerFailures: w.failures },
        },
      ]
    } finally {
      clearInterval(ticker)
      bar.stop()
      await w.close()
      await cleanPipelineTopology(ctx)
    }
  },
}
