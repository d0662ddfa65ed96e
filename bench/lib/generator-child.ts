// The load generator's process: publishes bench events at a steady rate and, when asked,
// measures publish → output latency on a core NATS subscription. It runs apart from the
// pipeline worker so the worker's event loop and memory are measured alone.
import type { Subscription } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { benchEvent, loadBenchFixtures, preciseNow } from './fixtures.ts'
import { createBenchPublisher, PUBLISH_WINDOW } from './publish.ts'
import type { GeneratorJob, GeneratorReport } from './generator.ts'
import { summarize } from './stats.ts'
import { closeQuietly } from './worker.ts'
import { ingestMsgId } from '../../src/wire/mod.ts'
import { waitingCopy } from './waiting-copy.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function run(job: GeneratorJob): Promise<GeneratorReport> {
  const { catalog } = await loadBenchFixtures(job.manifests)
  const auth = job.credentials ? { credentials: job.credentials } : {}
  const nc = await connectNats(job.url, { name: 'omni-bench-generator', ...auth })
  // outputs may appear on another server than the one events are published to (the mesh)
  const outNc = job.latencyUrl ? await connectNats(job.latencyUrl, { name: 'omni-bench-generator-out', ...auth }) : nc
  const publisher = createBenchPublisher(nc)
  const latencies: number[] = []
  let received = 0
  let measureFrom = Number.POSITIVE_INFINITY
  let sub: Subscription | undefined
  if (job.latencySubject) {
    sub = outNc.subscribe(job.latencySubject, {
      callback: (err, m) => {
        if (err) return
        const now = preciseNow()
        received++
        const sentAt = (m.json() as { data?: { sentAt?: unknown } }).data?.sentAt
        if (typeof sentAt === 'number' && sentAt >= measureFrom) latencies.push(now - sentAt)
      },
    })
    await outNc.flush()
  }

  const total = Math.max(1, Math.round((job.rate * job.durationMs) / 1000))
  let acked = 0
  let failed = 0
  let firstError: string | undefined
  const onAck = () => void acked++
  const onError = (err: unknown) => {
    failed++
    firstError ??= err instanceof Error ? err.message : String(err)
  }
  const start = performance.now()
  measureFrom = performance.timeOrigin + start + job.warmupMs
  // a paced schedule: by time t, rate·t events should be out; send what is due, then yield.
  // It stops at the end of the duration even when it fell behind (the report says by how much).
  const end = start + job.durationMs
  let sent = 0
  let maxBehind = 0
  while (sent < total && performance.now() < end) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * job.rate) / 1000))
    maxBehind = Math.max(maxBehind, due - sent)
    while (sent < due && performance.now() < end) {
      if (publisher.pending >= PUBLISH_WINDOW) await publisher.ready()
      const e = benchEvent(catalog, job.run, sent, preciseNow(), job.visibility)
      const out = job.asMeshOutbox ? waitingCopy('floor', e) : e
      publisher.publish(out.subject, out.bytes, { msgID: ingestMsgId(e.event.tenant, e.event.idempotencykey) }).then(onAck, onError)
      sent++
    }
    await sleep(1)
  }
  const publishSeconds = (performance.now() - start) / 1000
  await publisher.close()
  if (sub) {
    const drainUntil = performance.now() + job.drainMs
    while (received < acked && performance.now() < drainUntil) await sleep(20)
    sub.unsubscribe()
  }
  if (outNc !== nc) await closeQuietly(outNc)
  await closeQuietly(nc)
  return {
    type: 'done',
    sent,
    acked,
    failed: failed + (sent - acked - failed),
    publishSeconds,
    target: total,
    achievedRate: acked / publishSeconds,
    maxBehind,
    ...(firstError !== undefined ? { firstError } : {}),
    ...(job.latencySubject ? { latency: { received, missing: Math.max(0, acked - received), ...summarize(latencies) } } : {}),
  }
}

process.once('message', (job: GeneratorJob) => {
  // never outlive the job, whatever happens to the connection
  setTimeout(() => process.exit(2), job.timeoutMs).unref()
  run(job).then(
    (report) => process.send?.(report, () => process.disconnect()),
    (err: unknown) => process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies GeneratorReport, () => process.disconnect()),
  )
})
process.send?.({ type: 'ready' })
