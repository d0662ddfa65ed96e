// The least code an exporter can be, for the mesh's bound: a durable pull consumer on A's events
// stream that reads each envelope (a visibility boundary enforced in code must read it), keeps
// what is not `cluster`/`public`, publishes the rest to the outbox with its own Nats-Msg-Id and
// acks once the outbox has it. No catalog, no origin or reserved-type checks, no metrics, no
// tracking for a clean close: cheaper than any exporter that keeps the mesh's promises, so a
// design built on it can only be slower.
import { AckPolicy, DeliverPolicy, jetstream, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { NATS_HEADERS } from '../../src/wire/mod.ts'
import { createBenchPublisher } from './publish.ts'

export interface BareExporterOptions {
  readonly stream: string
  readonly consumer: string
  readonly filter: string
  /** the outbox subject an exported event's own subject maps to */
  readonly outboxSubject: (subject: string) => string
}

export interface BareExporter {
  /** events copied into the outbox so far */
  readonly copied: () => number
  /** stops pulling, waits for the outbox acks in flight, deletes the consumer */
  close(): Promise<void>
}

const decoder = new TextDecoder()
/** unacknowledged deliveries the server lets out at once: the node's exporter allows as many */
const MAX_ACK_PENDING = 4096

function exported(m: JsMsg): boolean {
  try {
    const e = JSON.parse(decoder.decode(m.data)) as { visibility?: unknown }
    return e.visibility === 'cluster' || e.visibility === 'public'
  } catch {
    return false
  }
}

export async function startBareExporter(nc: NatsConnection, jsm: JetStreamManager, opts: BareExporterOptions): Promise<BareExporter> {
  await jsm.consumers.add(opts.stream, { durable_name: opts.consumer, filter_subject: opts.filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: MAX_ACK_PENDING })
  const consumer = await jetstream(nc).consumers.get(opts.stream, opts.consumer)
  const publisher = createBenchPublisher(nc)
  let copied = 0
  // the callback form: no async iterator turn per message; the publisher's window and the
  // consumer's max_ack_pending bound what is in flight, so nothing here waits per message
  const messages: ConsumerMessages = await consumer.consume({
    max_messages: 1024,
    callback: (m) => {
      if (!exported(m)) {
        m.ack()
        return
      }
      publisher.publish(opts.outboxSubject(m.subject), m.data, { msgID: m.headers?.get(NATS_HEADERS.msgId) || `${opts.consumer}:${m.info.streamSequence}` }).then(
        () => {
          copied++
          m.ack()
        },
        // the server redelivers it after ack_wait; the bound run reports what did not arrive
        () => m.nak(),
      )
    },
  })
  return {
    copied: () => copied,
    async close() {
      await messages.close()
      await publisher.close()
      await jsm.consumers.delete(opts.stream, opts.consumer)
    },
  }
}
