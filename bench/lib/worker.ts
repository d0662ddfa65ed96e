import { jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { startPipelineWorker, type PipelineWorker, type SettledEvent } from '../../src/pipeline/worker.ts'
import type { BenchContext } from './types.ts'

/** The pipeline worker as `omni up` runs it: its own connection and fast publisher. */
export interface BenchWorker {
  readonly worker: PipelineWorker
  /** acked events so far */
  readonly acked: number
  /** retried or dead-lettered events so far (none expected) */
  readonly failures: number
  /** resolves once `n` events have been acked, or `undefined` after `timeoutMs` */
  ackedAtLeast(n: number, timeoutMs: number): Promise<number | undefined>
  close(): Promise<void>
}

export async function startBenchWorker(ctx: BenchContext, name: string): Promise<BenchWorker> {
  const nc = await connectNats(ctx.url, { name: `omni-bench-${name}` })
  const publisher = createPublisher(nc)
  let acked = 0
  let failures = 0
  let target = Number.POSITIVE_INFINITY
  let reached: ((at: number) => void) | undefined
  const onSettled = (e: SettledEvent) => {
    if (e.type !== 'acked') {
      failures++
      return
    }
    if (++acked >= target && reached) {
      reached(performance.now())
      reached = undefined
    }
  }
  let worker: PipelineWorker
  try {
    worker = await startPipelineWorker({ js: jetstream(nc), publisher, pipeline: ctx.fixtures.pipeline, catalog: () => ctx.fixtures.catalog, onSettled })
  } catch (err) {
    await closeQuietly(nc)
    throw err
  }
  return {
    worker,
    get acked() {
      return acked
    },
    get failures() {
      return failures
    },
    async ackedAtLeast(n, timeoutMs) {
      if (acked >= n) return performance.now()
      target = n
      let timer: NodeJS.Timeout | undefined
      const at = await Promise.race([
        new Promise<number>((resolve) => (reached = resolve)),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
      ])
      clearTimeout(timer)
      reached = undefined
      target = Number.POSITIVE_INFINITY
      return at
    },
    async close() {
      await worker.close()
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
