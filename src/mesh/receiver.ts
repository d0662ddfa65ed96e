import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import { trust } from '../cartridges/guard/trust.ts'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { Envelope } from '../envelope/schema.ts'
import { deadLetter } from '../jetstream/dlq.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { EVENTS_STREAM, upsertConsumer } from '../jetstream/topology.ts'
import { describeError, isOmniError } from '../errors/mod.ts'
import { startTrackedConsumer, type TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import { meshMetrics } from '../observability/metrics.ts'
import { compileCel } from '../pipeline/cel.ts'
import { ConfigProblem, type StageFn } from '../pipeline/stage.ts'
import { encodeIngestOrigin, meshInboxStream, NATS_HEADERS, quarantinedMsgId, receivedMsgId, receivedSubject, STREAM_SOURCE_HEADER, tenantKey } from '../wire/mod.ts'
import { admitFromLink, type RefusalReason } from './admission.ts'
import type { MeshPeer, MeshTrust } from './config.ts'

/** The durable consumer on each inbox. */
export const MESH_RECEIVER = 'mesh-receiver'
/** Where a refused received event is dead-lettered: `omni dlq list --pipeline _mesh-<peer>`. The underscore keeps it apart from pipelines. */
export const meshDeadLetters = (peer: string) => `_mesh-${peer}`
/** The key namespace (Omni-Ingest-Origin) of events received from `peer`: a client's keys never meet them. */
export const meshIngestOrigin = (peer: string) => `mesh:${peer}`
/** The stage name guard.trust runs under for received events. */
export const MESH_TRUST_STAGE = 'trust'

/** What happened to one received message, for tests and status. */
export type Received = { readonly type: 'admitted'; readonly peer: string; readonly id: string } | { readonly type: 'refused'; readonly peer: string; readonly reason: RefusalReason; readonly message: string }

export interface ReceiverOptions {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly catalog: () => EventCatalog
  readonly cluster: string
  readonly peer: MeshPeer
  readonly trust: StageFn
  readonly onReceived?: (r: Received) => void
}

/**
 * Builds guard.trust from the mesh's trust configuration, with the cartridge's own code: the
 * same rules, outcomes and quarantine event as in a pipeline. A bad CEL rule fails the start.
 */
export function meshTrustStage(config: MeshTrust): StageFn {
  return trust.create(
    { rules: config.rules.map((r) => ({ ...r })), ...(config.default ? { default: config.default } : {}) },
    {
      pipeline: 'mesh',
      stage: MESH_TRUST_STAGE,
      cel(expression, at) {
        const result = compileCel(expression)
        if (result.type === 'error') throw new ConfigProblem(at, `mesh.trust: invalid CEL expression: ${result.message}`)
        return result.program
      },
    },
  )
}

/**
 * Starts the receiver of one peer: a durable consumer on its inbox that admits each message in
 * order (origin bound to the link, a tenant the peer may write to, visibility, this node's catalog, then guard.trust before
 * anything else runs), and publishes an admitted one, with `origin` set to the peer, to the
 * events stream under omni.rcv.>, with an id deduplicated by peer plus its outbox id. Refused
 * messages are counted, dead-lettered (stage = the reason) and acknowledged; a quarantine publishes its
 * omni.event.quarantined event (kept `local`) and goes no further.
 */
export async function startReceiver(opts: ReceiverOptions): Promise<TrackedConsumer> {
  const stream = meshInboxStream(opts.peer.node)
  await upsertConsumer(opts.jsm, stream, MESH_RECEIVER, { ack_wait: 30_000_000_000, max_ack_pending: 4096, max_deliver: -1, description: `Omni Fabric mesh receiver of ${opts.peer.node}` })
  const peer = opts.peer.node
  // read once per start: an operator who changes the events stream's limit restarts the node
  const maxMsgSize = (await opts.jsm.streams.info(EVENTS_STREAM)).config.max_msg_size ?? -1
  const refused = async (m: JsMsg, reason: RefusalReason, message: string): Promise<void> => {
    // a quarantine keeps its own record (the omni.event.quarantined event); every other refusal is a dead letter
    if (reason !== 'quarantine') await deadLetter(opts.publisher, m, { pipeline: meshDeadLetters(peer), stage: reason, error: message, attempts: m.info.deliveryCount })
    meshMetrics.refused.inc({ peer, reason })
    m.ack()
    opts.onReceived?.({ type: 'refused', peer, reason, message })
  }
  return startTrackedConsumer({
    js: opts.js,
    stream,
    consumer: MESH_RECEIVER,
    pull: { max_messages: 512 },
    handle: async (m) => {
      const admission = admitFromLink(opts.cluster, opts.peer, { subject: m.subject, streamSource: m.headers?.get(STREAM_SOURCE_HEADER), data: m.data }, opts.catalog())
      if (admission.type === 'refuse') return refused(m, admission.reason, admission.message)
      const { event, vis } = admission
      const outboxId = m.headers?.get(NATS_HEADERS.msgId) || `key/${tenantKey(event.tenant, event.idempotencykey)}`
      const verdict = await opts.trust({ event, labels: {}, pipeline: meshDeadLetters(peer), stage: MESH_TRUST_STAGE, origin: meshIngestOrigin(peer), attempt: m.info.deliveryCount, signal: NEVER, services: { now: Date.now } })
      if (verdict.type === 'drop') {
        const quarantined = verdict.reason.startsWith('quarantined')
        for (const e of quarantined ? (verdict.emit ?? []) : []) {
          // the quarantine is this node's own record: it never travels, and it stays in the
          // event's tenant, which the peer's entry allowed (whatever a rule's emission says)
          const record: Envelope = { ...e.event, tenant: event.tenant, visibility: 'local' }
          await opts.publisher.publish(e.subject, encode(record), { msgID: quarantinedMsgId(peer, outboxId), headers: encodeIngestOrigin(meshIngestOrigin(peer)) })
        }
        return refused(m, quarantined ? 'quarantine' : 'reject', verdict.reason)
      }
      const received: Envelope = { ...event, origin: peer }
      const data = encode(received)
      const msgID = receivedMsgId(peer, outboxId)
      const headers = encodeIngestOrigin(meshIngestOrigin(peer))
      const size = data.length + headerBytes({ ...headers, [NATS_HEADERS.msgId]: msgID })
      if (maxMsgSize >= 0 && size > maxMsgSize) return refused(m, 'too-large', `with origin set it is ${size} bytes (payload and headers), more than this node's events stream takes (max_msg_size ${maxMsgSize})`)
      try {
        await opts.publisher.publish(receivedSubject(vis, opts.peer.cluster, peer, admission.eventSubject), data, { msgID, headers })
      } catch (err) {
        // a retry can never store it (message or payload too large): refuse it instead of retrying forever
        if (isOmniError(err) && err.permanent) return refused(m, 'too-large', `this node cannot store it: ${describeError(err)}`)
        throw err
      }
      meshMetrics.events.inc({ direction: 'in', visibility: vis })
      meshMetrics.bytes.inc({ direction: 'in', visibility: vis }, data.length)
      m.ack()
      opts.onReceived?.({ type: 'admitted', peer, id: event.id })
    },
  })
}

/** The bytes a NATS header block takes (`NATS/1.0`, one line per header, a blank line): what max_msg_size counts besides the payload. */
function headerBytes(headers: Record<string, string>): number {
  let n = 'NATS/1.0\r\n\r\n'.length
  for (const [k, v] of Object.entries(headers)) n += Buffer.byteLength(`${k}: ${v}\r\n`)
  return n
}

const NEVER = new AbortController().signal
const encoder = new TextEncoder()
const encode = (e: Envelope) => encoder.encode(JSON.stringify(e))
