// Raw ceiling 1b: pull consume() + m.ack() of a file stream of N messages, one client, with the
// same pull batch as the pipeline worker. Two ways to take the messages: the async iterator
// (`for await`, as the pipeline worker does) and consume({ callback }). The faster one is the
// ceiling the pipeline's end-to-end rate is compared with.
import { jetstream, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../src/jetstream/connect.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { createBenchPublisher, publishAll } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { addRawConsumer, createRawStream } from '../lib/topology.ts'
import type { BenchContext, Progress, Scenario, ScenarioResult } from '../lib/types.ts'
import { closeQuietly } from '../lib/worker.ts'

const MESSAGE_BYTES = 256
/** the pipeline worker's default pull batch */
const BATCH = 256

type Take = (nc: NatsConnection, stream: string, consumer: string, count: number, bar: Progress, timeoutMs: number) => Promise<number>

/** `for await (const m of messages)`: one microtask turn per message. */
const iterate: Take = async (nc, stream, consumer, count, bar, timeoutMs) => {
  const messages = await (await jetstream(nc).consumers.get(stream, consumer)).consume({ max_messages: BATCH })
  const timer = setTimeout(() => void messages.close(), timeoutMs)
  let acked = 0
  try {
    for await (const m of messages) {
      m.ack()
      if (++acked % 1024 === 0) bar.update(acked)
      if (acked >= count) break
    }
  } finally {
    clearTimeout(timer)
    await messages.close()
  }
  return acked
}

/** consume({ callback }): every message of a socket read is handled in one synchronous pass. */
const callback: Take = async (nc, stream, consumer, count, bar, timeoutMs) => {
  let acked = 0
  const done = Promise.withResolvers<void>()
  const messages = await (await jetstream(nc).consumers.get(stream, consumer)).consume({
    max_messages: BATCH,
    callback: (m: JsMsg) => {
      m.ack()
      if (++acked % 1024 === 0) bar.update(acked)
      if (acked === count) done.resolve()
    },
  })
  let timer: NodeJS.Timeout | undefined
  await Promise.race([done.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
  clearTimeout(timer)
  await messages.close()
  return acked
}

const VARIANTS: readonly { id: string; title: string; take: Take; note: string }[] = [
  { id: 'consume-ceiling', title: 'consume() + ack, for await', take: iterate, note: 'async iterator, as the pipeline worker consumes' },
  { id: 'consume-ceiling.callback', title: 'consume() + ack, callback', take: callback, note: 'consume({ callback })' },
]

async function measure(ctx: BenchContext, stream: string, expected: number, variant: (typeof VARIANTS)[number]): Promise<ScenarioResult> {
  const name = variant.id.replace(/\./g, '-')
  await addRawConsumer(ctx, stream, name)
  const nc = await connectNats(ctx.url, { name: `omni-bench-${name}` })
  try {
    const bar = ctx.progress(variant.title, expected)
    const cpu = startCpuMeter(ctx.serverPid)
    const started = performance.now()
    const acked = await variant.take(nc, stream, name, expected, bar, ctx.sizes.phaseTimeoutSeconds * 1000)
    // acks are fire-and-forget: a flush round trip proves the server has them all
    await nc.flush()
    const seconds = (performance.now() - started) / 1000
    const cpuShare = cpu.stop()
    bar.update(acked)
    bar.stop()
    const info = await ctx.jsm.consumers.info(stream, name)
    const leftover = info.num_ack_pending + info.num_pending
    return {
      id: variant.id,
      scenario: 'consume-ceiling',
      title: variant.title,
      events: acked,
      seconds: round(seconds, 3),
      rate: Math.round(acked / seconds),
      notes: [
        `${MESSAGE_BYTES} B, file stream, pull batch ${BATCH}, ${variant.note}; CPU bench ${cpuShare.bench}${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}`} core`,
        acked < expected ? `timed out after ${acked} of ${expected}` : '',
        leftover > 0 ? `${leftover} not acked at the server` : '',
      ]
        .filter(Boolean)
        .join('; '),
      details: { messageBytes: MESSAGE_BYTES, batch: BATCH, numAckPending: info.num_ack_pending, numPending: info.num_pending, cpu: cpuShare },
    }
  } finally {
    await closeQuietly(nc)
  }
}

export const consumeCeiling: Scenario = {
  id: 'consume-ceiling',
  title: 'pull consume + ack, one client',
  async run(ctx) {
    const count = ctx.sizes.events
    const stream = await createRawStream(ctx, 'consume')
    try {
      const nc = await connectNats(ctx.url, { name: 'omni-bench-consume-fill' })
      const publisher = createBenchPublisher(nc)
      const payload = new Uint8Array(MESSAGE_BYTES).fill(0x79)
      const filled = await publishAll(publisher, count, () => ({ subject: stream.subject, bytes: payload }), ctx.progress('consume: filling stream', count), ctx.sizes.phaseTimeoutSeconds * 1000)
      await publisher.close()
      await closeQuietly(nc)
      if (filled.acked === 0) throw new Error(`could not fill the stream: ${filled.firstError ?? 'no acks'}`)
      // each variant gets its own fresh consumer over the same messages
      const rows: ScenarioResult[] = []
      for (const v of VARIANTS) rows.push(await measure(ctx, stream.name, filled.acked, v))
      const ceiling = Math.max(...rows.map((r) => r.rate))
      return rows.map((r) => ({ ...r, ratio: round(r.rate / ceiling), ratioTo: 'consume' }))
    } finally {
      await stream.remove()
    }
  },
}
