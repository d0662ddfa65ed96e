import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { startRecorder, type Recorder } from '../../src/clickhouse/recorder.ts'
import type { EventRow } from '../../src/clickhouse/rows.ts'
import type { BatchWriter } from '../../src/clickhouse/writer.ts'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import type { CompiledPipeline } from '../../src/pipeline/compile.ts'
import type { OutcomeSink } from '../../src/pipeline/outcome-sink.ts'
import { startPipelineWorker, type PipelineWorker, type SettledEvent } from '../../src/pipeline/worker.ts'
import type { BenchContext } from './types.ts'
import { createAckCount } from './ack-count.ts'

/** ClickHouse for the worker, as `omni up` wires it when the sink is on. */
export interface BenchSink {
  /** stage outcomes, written before each ack */
  readonly outcomes: OutcomeSink
  /** omni_events, fed by the recorder, which then runs on the worker's connection */
  readonly events: BatchWriter<EventRow>
}

/** The pipeline worker as `omni up` runs it: its own connection and fast publisher. */
export interface BenchWorker {
  readonly worker: PipelineWorker
  /** the event recorder, when the sink is on */
  readonly recorder: Recorder | undefined
  /** acked events so far */
  readonly acked: number
  /** performance.now() of the first ack, once there was one */
  readonly firstAckAt: number | undefined
  /** retried or dead-lettered events so far (none expected) */
  readonly failures: number
  /** resolves once `n` events have been acked, or `undefined` after `timeoutMs` */
  ackedAtLeast(n: number, timeoutMs: number): Promise<number | undefined>
  /** stops the worker and the recorder; the writers are the caller's to close after this */
  close(): Promise<void>
}

/**
 * Starts the worker on its own connection. `pipeline` replaces the fixtures' bench pipeline
 * (e.g. one with a plugin stage); it must keep the bench pipeline's name and sources, so the
 * consumer freshPipelineTopology made is the one it reads.
 */
export async function startBenchWorker(ctx: BenchContext, name: string, sink?: BenchSink, pipeline: CompiledPipeline = ctx.fixtures.pipeline): Promise<BenchWorker> {
  const nc = await connectNats(ctx.url, { name: `omni-bench-${name}` })
  const publisher = createPublisher(nc)
  const acked = createAckCount()
  let firstAckAt: number | undefined
  let failures = 0
  const onSettled = (e: SettledEvent) => {
    if (e.type !== 'acked') {
      failures++
      return
    }
    if (acked.value === 0) firstAckAt = performance.now()
    acked.add()
  }
  let worker: PipelineWorker
  let recorder: Recorder | undefined
  const js = jetstream(nc)
  try {
    // the recorder first, as `omni up` starts it before the pipelines
    if (sink) {
      const pipelines = [pipeline]
      recorder = await startRecorder({ js, jsm: await jetstreamManager(nc), publisher, writer: sink.events, pipelines: () => pipelines })
    }
    worker = await startPipelineWorker({
      js,
      publisher,
      pipeline,
      catalog: () => ctx.fixtures.catalog,
      report: (s) => {
        if (s.type === 'acked' || s.type === 'retry' || s.type === 'dead-lettered') onSettled(s)
      },
      ...(sink ? { outcomes: sink.outcomes } : {}),
    })
  } catch (err) {
    await recorder?.close()
    await closeQuietly(nc)
    throw err
  }
  return {
    worker,
    recorder,
    get acked() {
      return acked.value
    },
    get firstAckAt() {
      return firstAckAt
    },
    get failures() {
      return failures
    },
    ackedAtLeast: (n, timeoutMs) => acked.atLeast(n, timeoutMs),
    async close() {
      await Promise.all([worker.close(), recorder?.close()])
      await publisher.close()
      await closeQuietly(nc)
    },
  }
}

/** Drains a connection, falling back to close when the drain takes longer than 5 s. */
export async function closeQuietly(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return
  let timer: NodeJS.Timeout | undefined
  const drained = nc.drain().then(() => true, () => false)
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5000)))
  const ok = await Promise.race([drained, late])
  clearTimeout(timer)
  if (!ok) await nc.close().catch(() => undefined)
}
