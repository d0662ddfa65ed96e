import type { EventCatalog } from '../catalog/catalog.ts'
import type { Envelope } from '../envelope/schema.ts'
import { envelopeProblems } from '../envelope/validate.ts'
import { catalogRefusal } from '../pipeline/admission.ts'
import { MESH_SUBJECT_PREFIX, parseMeshSubject, sourcedOutbox, type MeshVisibility } from '../wire/mod.ts'
import { DEFAULT_PEER_TENANT, peerTenantAllowed, type MeshPeer } from './config.ts'

/** Why a received event was refused; the label of omni_mesh_refused_total. */
/** `too-large`: admitted, but this node's events stream cannot store it (origin added, or a smaller max_msg_size). */
export type RefusalReason = 'forged-origin' | 'tenant' | 'visibility' | 'catalog' | 'quarantine' | 'reject' | 'too-large'

/** A received message that passed the link and catalog checks, or why it did not. */
export type LinkAdmission =
  | { readonly type: 'admit'; readonly vis: MeshVisibility; readonly event: Envelope; readonly eventSubject: string }
  | { readonly type: 'refuse'; readonly reason: RefusalReason; readonly message: string }

export interface ReceivedMessage {
  readonly subject: string
  /** the Nats-Stream-Source header the receiving server wrote when it sourced the message */
  readonly streamSource: string | undefined
  readonly data: Uint8Array
}

const decoder = new TextDecoder()
const refuse = (reason: RefusalReason, message: string): LinkAdmission => ({ type: 'refuse', reason, message })

/**
 * The checks on a message from the inbox of `peer`, in order: (1) the origin is bound to the
 * link: the outbox it really came from (the header this node's server wrote while sourcing, which
 * the sender cannot write) and the inbox (which sources only this peer) must match the subject's
 * node and cluster, and the envelope must not name an origin of its own; (2) its tenant is one
 * the peer's entry allows; (3) the subject's and the envelope's visibility equal its outbox's;
 * (4) this node's catalog admits it: a declared type whose subject it is, valid data, a
 * visibility no wider than this catalog allows. A tenant that is not a string is left to (4).
 */
export function admitFromLink(cluster: string, peer: MeshPeer, msg: ReceivedMessage, catalog: EventCatalog): LinkAdmission {
  const outbox = sourcedOutbox(msg.streamSource)
  if (!outbox) return refuse('forged-origin', `it did not come from an outbox of ${peer.node} (${msg.streamSource ?? 'no'} Nats-Stream-Source header)`)
  const parts = msg.subject.startsWith(`${MESH_SUBJECT_PREFIX}.`) ? parseMeshSubject(msg.subject) : undefined
  if (!parts) return refuse('forged-origin', `its subject ${msg.subject} is not an outbox subject`)
  if (parts.node !== peer.node || parts.cluster !== peer.cluster) return refuse('forged-origin', `its subject ${msg.subject} claims node ${parts.node} of cluster ${parts.cluster}, but it came over the link of ${peer.node} of cluster ${peer.cluster}`)
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(msg.data))
  } catch (err) {
    return refuse('catalog', `its body is not JSON: ${(err as Error).message}`)
  }
  if (value !== null && typeof value === 'object' && 'origin' in value) return refuse('forged-origin', `its envelope sets origin ${JSON.stringify((value as { origin: unknown }).origin)}: origin is set by the receiving node`)
  // tenant names are this node's own: a peer's event lands only in a tenant its entry lists
  const tenant = value !== null && typeof value === 'object' ? (value as { tenant?: unknown }).tenant : undefined
  if (typeof tenant === 'string' && !peerTenantAllowed(peer, tenant)) {
    return refuse('tenant', `its envelope names tenant ${JSON.stringify(tenant.slice(0, 256))}, which ${peer.node} may not write to on this node (its peers entry allows ${(peer.tenants ?? [DEFAULT_PEER_TENANT]).join(', ')})`)
  }
  if (parts.vis !== outbox) return refuse('visibility', `its subject ${msg.subject} says ${parts.vis}, but it came from the ${outbox} outbox`)
  if (outbox === 'cluster' && peer.cluster !== cluster) return refuse('visibility', `a cluster event of cluster ${peer.cluster} reached cluster ${cluster}`)
  const problems = envelopeProblems(value)
  if (problems.length > 0) return refuse('catalog', `invalid envelope: ${problems.map((p) => `${p.where}: ${p.message}`).join('; ')}`)
  const event = value as Envelope
  if (event.visibility !== outbox) return refuse('visibility', `its envelope says visibility ${event.visibility}, but it came from the ${outbox} outbox`)
  const entry = catalog.get(event.type)
  const refused = catalogRefusal(entry, event)
  if (refused !== undefined) return refuse('catalog', refused)
  const subjectEvent = parts.eventSubject.split('.')[3]
  if (subjectEvent !== event.type.replace(/\./g, '-')) return refuse('catalog', `its subject ${msg.subject} names event ${subjectEvent}, but its envelope is a ${event.type}`)
  return { type: 'admit', vis: outbox, event, eventSubject: parts.eventSubject }
}
