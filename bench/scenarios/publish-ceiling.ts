// Raw ceiling 1a: JetStream publish with acks to a file stream, 256-byte messages, from one
// client. Our fast publisher (one reply subscription, many in flight) is the number that
// matters; plain `js.publish()` awaited in windows is shown for comparison.
import { jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { createBenchPublisher, publishAll, PUBLISH_WINDOW, type PublishAllResult } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { createRawStream, type RawStream } from '../lib/topology.ts'
import type { BenchContext, Progress, Scenario, ScenarioResult } from '../lib/types.ts'
import { closeQuietly } from '../lib/worker.ts'

const MESSAGE_BYTES = 256
/** publishes in flight per window for the plain js.publish() comparison */
const JS_WINDOW = 256
const PAYLOAD = new Uint8Array(MESSAGE_BYTES).fill(0x78)

type Publish = (nc: NatsConnection, stream: RawStream, count: number, bar: Progress, timeoutMs: number) => Promise<PublishAllResult>

const fast: Publish = async (nc, stream, count, bar, timeoutMs) => {
  const publisher = createBenchPublisher(nc)
  try {
    return await publishAll(publisher, count, () => ({ subject: stream.subject, bytes: PAYLOAD }), bar, timeoutMs)
  } finally {
    await publisher.close()
  }
}

const fastWithMsgId: Publish = async (nc, stream, count, bar, timeoutMs) => {
  const publisher = createBenchPublisher(nc)
  try {
    return await publishAll(publisher, count, (i) => ({ subject: stream.subject, bytes: PAYLOAD, msgID: `${stream.name}-${i}` }), bar, timeoutMs)
  } finally {
    await publisher.close()
  }
}

const jsWindows: Publish = async (nc, stream, count, bar, timeoutMs) => {
  const js = jetstream(nc)
  const started = performance.now()
  const deadline = started + timeoutMs
  let acked = 0
  let failed = 0
  let firstError: string | undefined
  let sent = 0
  while (sent < count && performance.now() < deadline) {
    const n = Math.min(JS_WINDOW, count - sent)
    const window: Promise<unknown>[] = []
    for (let i = 0; i < n; i++) window.push(js.publish(stream.subject, PAYLOAD))
    sent += n
    for (const r of await Promise.allSettled(window)) {
      if (r.status === 'fulfilled') acked++
      else {
        failed++
        firstError ??= r.reason instanceof Error ? r.reason.message : String(r.reason)
      }
    }
    bar.update(sent)
  }
  bar.stop()
  return { acked, failed: failed + (count - sent), seconds: (performance.now() - started) / 1000, ...(firstError ? { firstError } : {}) }
}

const VARIANTS: readonly { id: string; title: string; label: string; publish: Publish; note: string }[] = [
  { id: 'publish-ceiling.fast', title: 'publish+ack, fast publisher', label: 'publish (fast publisher)', publish: fast, note: `createPublisher, ${PUBLISH_WINDOW} in flight` },
  {
    id: 'publish-ceiling.fast-msgid',
    title: 'publish+ack, fast publisher + Nats-Msg-Id',
    label: 'publish (fast + msg id)',
    publish: fastWithMsgId,
    note: 'as the pipeline publishes its outputs: a header per message and the server dedup window',
  },
  { id: 'publish-ceiling.js-publish', title: 'publish+ack, js.publish() windows', label: 'publish (js.publish)', publish: jsWindows, note: `js.publish() awaited in windows of ${JS_WINDOW}` },
]

async function measure(ctx: BenchContext, variant: (typeof VARIANTS)[number]): Promise<ScenarioResult> {
  const count = ctx.sizes.events
  const stream = await createRawStream(ctx, variant.id.split('.')[1] ?? 'pub')
  const nc = await connectNats(ctx.url, { name: `omni-bench-${variant.id}` })
  try {
    const cpu = startCpuMeter(ctx.serverPid)
    const r = await variant.publish(nc, stream, count, ctx.progress(variant.label, count), ctx.sizes.phaseTimeoutSeconds * 1000)
    const cpuShare = cpu.stop()
    const stored = (await ctx.jsm.streams.info(stream.name)).state.messages
    const rate = r.acked / r.seconds
    const problems = [r.failed > 0 ? `${r.failed} failed (${r.firstError})` : '', stored !== r.acked ? `${stored} stored vs ${r.acked} acked` : '']
    return {
      id: variant.id,
      scenario: 'publish-ceiling',
      title: variant.title,
      events: r.acked,
      seconds: round(r.seconds, 3),
      rate: Math.round(rate),
      notes: [`${MESSAGE_BYTES} B, file stream; ${variant.note}`, ...problems].filter(Boolean).join('; '),
      details: { messageBytes: MESSAGE_BYTES, failed: r.failed, stored, cpu: cpuShare, ...(r.firstError ? { firstError: r.firstError } : {}) },
    }
  } finally {
    await closeQuietly(nc)
    await stream.remove()
  }
}

export const publishCeiling: Scenario = {
  id: 'publish-ceiling',
  title: 'JetStream publish with acks, one client',
  async run(ctx) {
    const rows: ScenarioResult[] = []
    for (const v of VARIANTS) rows.push(await measure(ctx, v))
    const best = rows[0]?.rate ?? 0
    return rows.map((r) => (best > 0 ? { ...r, ratio: round(r.rate / best), ratioTo: 'fast publish' } : r))
  },
}
