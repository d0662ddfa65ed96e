import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { EventCatalog } from '../catalog/catalog.ts'
import { widerThan } from '../envelope/schema.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { EVENTS_STREAM, upsertConsumer } from '../jetstream/topology.ts'
import { startTrackedConsumer, type TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import { meshMetrics } from '../observability/metrics.ts'
import { decodeEmittedBy, decodeIngestOrigin, EVENT_SUBJECT_PATTERN, exportedSeqMsgId, meshOutboxSubject, NATS_HEADERS, NODE_ORIGIN, type HeaderReader, type MeshVisibility } from '../wire/mod.ts'

/** The durable consumer that copies this node's own events into its outboxes. */
export const MESH_EXPORTER = 'mesh-exporter'
/** Only this node's own events: received ones live under omni.rcv.> and are never sent on, so the mesh cannot loop. */
export const EXPORTED_SUBJECTS = 'omni.evt.>'

const EVENT_SUBJECT_RE = new RegExp(EVENT_SUBJECT_PATTERN)
const decoder = new TextDecoder()

export interface ExporterOptions {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly catalog: () => EventCatalog
  readonly cluster: string
  readonly node: string
}

/** Why an event stays home, or the visibility of the outbox it goes to. */
export type ExportDecision = { readonly type: 'export'; readonly vis: MeshVisibility } | { readonly type: 'keep'; readonly why: string }

/**
 * Where one stored event goes. It is exported only when its envelope reads, it was not received
 * from another node (it carries no `origin`), its visibility is `cluster` or `public`, and the
 * catalog allows that far for its type: a producer on NATS skips the ingest checks, and a widened
 * visibility must not carry a `local` type off the node.
 */
export function exportDecision(subject: string, data: Uint8Array, catalog: EventCatalog, headers?: HeaderReader): ExportDecision {
  if (!EVENT_SUBJECT_RE.test(subject)) return { type: 'keep', why: `${subject} is not an event subject` }
  let event: { type?: unknown; visibility?: unknown; origin?: unknown }
  try {
    event = JSON.parse(decoder.decode(data)) as typeof event
  } catch {
    return { type: 'keep', why: 'the envelope does not parse' }
  }
  if (event === null || typeof event !== 'object') return { type: 'keep', why: 'the envelope is not an object' }
  if (event.origin !== undefined) return { type: 'keep', why: `it was received from ${String(event.origin)}` }
  if (event.visibility !== 'cluster' && event.visibility !== 'public') return { type: 'keep', why: `its visibility is ${String(event.visibility)}` }
  const entry = typeof event.type === 'string' ? catalog.get(event.type) : undefined
  if (!entry) return { type: 'keep', why: `its type ${String(event.type)} is not in the catalog` }
  if (widerThan(event.visibility, entry.visibility)) return { type: 'keep', why: `${event.type} may travel at most ${entry.visibility}` }
  // a cartridge reaches every peer only from the node's own publish, never from a producer on NATS or a pipeline's output
  if (entry.reserved !== undefined && (decodeIngestOrigin(headers) !== NODE_ORIGIN || decodeEmittedBy(headers) !== '')) return { type: 'keep', why: `${event.type} is published by the node itself, and this copy was not` }
  return { type: 'export', vis: event.visibility }
}

/**
 * Starts the exporter: a durable consumer on the events stream (this node's own events only,
 * from the moment it is first created) that publishes each `cluster`/`public` event unchanged to its outbox, with the stored
 * message's own Nats-Msg-Id (so a redelivery after a crash is dropped by the outbox's duplicate
 * window), then acks. The outbox ack comes first: an event acknowledged here is in the outbox.
 */
export async function startExporter(opts: ExporterOptions): Promise<TrackedConsumer> {
  // created at the stream's end: a node that joins the mesh shares what happens from then on,
  // not its whole retained history at once; an existing exporter keeps its position
  await upsertConsumer(
    opts.jsm,
    EVENTS_STREAM,
    MESH_EXPORTER,
    { filter_subject: EXPORTED_SUBJECTS, ack_wait: 30_000_000_000, max_ack_pending: 4096, max_deliver: -1, description: 'Omni Fabric mesh exporter: own events into the outboxes' },
    { deliver_policy: DeliverPolicy.New },
  )
  return startTrackedConsumer({
    js: opts.js,
    stream: EVENTS_STREAM,
    consumer: MESH_EXPORTER,
    pull: { max_messages: 512 },
    handle: async (m: JsMsg) => {
      const decision = exportDecision(m.subject, m.data, opts.catalog(), m.headers)
      if (decision.type === 'keep') {
        m.ack()
        return
      }
      const msgID = m.headers?.get(NATS_HEADERS.msgId) || exportedSeqMsgId(opts.node, m.info.streamSequence)
      await opts.publisher.publish(meshOutboxSubject(decision.vis, opts.cluster, opts.node, m.subject), m.data, { msgID })
      meshMetrics.events.inc({ direction: 'out', visibility: decision.vis })
      meshMetrics.bytes.inc({ direction: 'out', visibility: decision.vis }, m.data.length)
      m.ack()
    },
  })
}
