// The pipeline end to end: N valid events wait in the stream, then the worker starts and the
// clock runs until every event is settled (acked) and its output is stored. Compared with the
// raw consume+ack ceiling, that says what the DAG, the output publishes and the acks cost.
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { benchEvent } from '../lib/fixtures.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { publishAll } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, storedOn } from '../lib/topology.ts'
import { rowRate, type Scenario } from '../lib/types.ts'
import { closeQuietly, startBenchWorker } from '../lib/worker.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const pipelineE2e: Scenario = {
  id: 'pipeline-e2e',
  title: 'pipeline end to end (trust → enrich → classify → output)',
  async run(ctx) {
    const count = ctx.sizes.events
    const timeoutMs = ctx.sizes.phaseTimeoutSeconds * 1000
    const { catalog, outputSubject, sourceSubject } = ctx.fixtures
    const run = `${ctx.runId}-e2e`
    await freshPipelineTopology(ctx)
    try {
      const nc = await connectNats(ctx.url, { name: 'omni-bench-e2e-producer' })
      let inputBytes = 0
      const filled = await (async () => {
        const publisher = createPublisher(nc)
        try {
          return await publishAll(
            publisher,
            count,
            (i) => {
              const e = benchEvent(catalog, run, i)
              inputBytes = e.bytes.byteLength
              return { subject: e.subject, bytes: e.bytes, msgID: e.event.idempotencykey }
            },
            ctx.progress('e2e: pre-publishing', count),
            timeoutMs,
          )
        } finally {
          await publisher.close()
          await closeQuietly(nc)
        }
      })()
      if (filled.acked === 0) throw new Error(`could not pre-publish: ${filled.firstError ?? 'no acks'}`)
      const expected = await storedOn(ctx, sourceSubject)

      const bar = ctx.progress('e2e: pipeline', expected)
      const cpu = startCpuMeter(ctx.serverPid)
      const started = performance.now()
      const w = await startBenchWorker(ctx, 'e2e')
      const ticker = setInterval(() => bar.update(w.acked), 200)
      let settledAt: number | undefined
      let outputs = 0
      let finishedAt: number
      try {
        settledAt = await w.ackedAtLeast(expected, timeoutMs)
        // outputs are durable before their source is acked, so this normally holds at once and
        // the clock stops at the last ack; otherwise it runs until they are all stored
        outputs = await storedOn(ctx, outputSubject)
        if (settledAt !== undefined && outputs >= expected) finishedAt = settledAt
        else {
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
      const acked = w.acked
      const failures = w.failures
      await w.close()

      const seconds = (finishedAt - started) / 1000
      const rate = acked / seconds
      const ceiling = rowRate(ctx, 'consume-ceiling')
      const problems = [
        settledAt === undefined ? `timed out: ${acked} of ${expected} settled` : '',
        outputs < expected ? `only ${outputs} of ${expected} outputs stored` : '',
        failures > 0 ? `${failures} retried/dead-lettered` : '',
      ]
      return [
        {
          id: 'pipeline-e2e',
          scenario: 'pipeline-e2e',
          title: 'pipeline end to end',
          events: acked,
          seconds: round(seconds, 3),
          rate: Math.round(rate),
          ...(ceiling ? { ratio: round(rate / ceiling), ratioTo: 'consume' } : {}),
          notes: [`3 stages + 1 output, ${inputBytes} B events; bench CPU ${cpuShare.bench}×core${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}×core`}`, ...problems]
            .filter(Boolean)
            .join('; '),
          details: { expected, outputsStored: outputs, inputBytes, prePublishSeconds: round(filled.seconds, 3), workerStats: stats, failures, cpu: cpuShare },
        },
      ]
    } finally {
      await cleanPipelineTopology(ctx)
    }
  },
}
