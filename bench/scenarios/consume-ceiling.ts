// Raw ceiling 1b: pull consume() + m.ack() of a file stream of N messages, one client, with the
// same pull batch as the pipeline worker. The pipeline's end-to-end rate is compared with this.
import { jetstream } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { publishAll } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { addRawConsumer, createRawStream } from '../lib/topology.ts'
import type { Scenario } from '../lib/types.ts'
import { closeQuietly } from '../lib/worker.ts'

const MESSAGE_BYTES = 256
/** the pipeline worker's default pull batch */
const BATCH = 256
const CONSUMER = 'bench-consume'

export const consumeCeiling: Scenario = {
  id: 'consume-ceiling',
  title: 'pull consume + ack, one client',
  async run(ctx) {
    const count = ctx.sizes.events
    const timeoutMs = ctx.sizes.phaseTimeoutSeconds * 1000
    const stream = await createRawStream(ctx, 'consume')
    const nc = await connectNats(ctx.url, { name: 'omni-bench-consume' })
    try {
      const publisher = createPublisher(nc)
      const payload = new Uint8Array(MESSAGE_BYTES).fill(0x79)
      const filled = await publishAll(publisher, count, () => ({ subject: stream.subject, bytes: payload }), ctx.progress('consume: filling stream', count), timeoutMs)
      await publisher.close()
      if (filled.acked === 0) throw new Error(`could not fill the stream: ${filled.firstError ?? 'no acks'}`)
      await addRawConsumer(ctx, stream.name, CONSUMER)

      const consumer = await jetstream(nc).consumers.get(stream.name, CONSUMER)
      const bar = ctx.progress('consume + ack', filled.acked)
      const cpu = startCpuMeter(ctx.serverPid)
      const started = performance.now()
      const messages = await consumer.consume({ max_messages: BATCH })
      const timer = setTimeout(() => void messages.close(), timeoutMs)
      let acked = 0
      for await (const m of messages) {
        m.ack()
        if (++acked % 1024 === 0) bar.update(acked)
        if (acked >= filled.acked) break
      }
      clearTimeout(timer)
      // acks are fire-and-forget: a flush round trip proves the server has them all
      await nc.flush()
      const seconds = (performance.now() - started) / 1000
      const cpuShare = cpu.stop()
      bar.update(acked)
      bar.stop()
      await messages.close()
      const info = await ctx.jsm.consumers.info(stream.name, CONSUMER)
      const leftover = info.num_ack_pending + info.num_pending
      return [
        {
          id: 'consume-ceiling',
          scenario: 'consume-ceiling',
          title: 'consume() + ack, raw ceiling',
          events: acked,
          seconds: round(seconds, 3),
          rate: Math.round(acked / seconds),
          ratio: 1,
          ratioTo: 'consume',
          notes: [`${MESSAGE_BYTES} B, file stream, pull batch ${BATCH}`, acked < filled.acked ? `timed out after ${acked} of ${filled.acked}` : '', leftover > 0 ? `${leftover} not acked at the server` : '']
            .filter(Boolean)
            .join('; '),
          details: { messageBytes: MESSAGE_BYTES, batch: BATCH, fillSeconds: round(filled.seconds, 3), numAckPending: info.num_ack_pending, numPending: info.num_pending, cpu: cpuShare },
        },
      ]
    } finally {
      await closeQuietly(nc)
      await stream.remove()
    }
  },
}
