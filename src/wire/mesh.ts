/**
 * The mesh's names, written once: the streams every node keeps, the subjects events travel on
 * between nodes, and the subjects a hub's permissions allow. docs/mesh.md draws them together.
 *
 * A node `N` of cluster `C` keeps, in its own JetStream domain `N`:
 * - outboxes `MESH_CLUSTER` (`omni.mesh.cluster.C.N.>`) and `MESH_PUBLIC` (`omni.mesh.public.C.N.>`),
 *   filled from its own events by visibility; a `local` event is never written to either;
 * - one inbox `MESH_IN_<P>` per peer `P` it receives from, which sources P's outboxes across the
 *   leaf link (JetStream stream sourcing, `$JS.P.API`), delivered on `mesh.dlv.<Cp>.P.<vis>.N`;
 * - admitted copies of received events in its events stream, on `omni.rcv.<vis>.<Cp>.<P>.…`.
 */

export type MeshVisibility = 'cluster' | 'public'
export const MESH_VISIBILITIES: readonly MeshVisibility[] = ['cluster', 'public']

/** A node or cluster name: it becomes a subject token, a JetStream domain and part of a stream name. */
export const MESH_NAME_PATTERN = '^[a-z][a-z0-9-]{0,31}$'
export const MESH_NAME_RE = new RegExp(MESH_NAME_PATTERN)

/** The outbox stream of one visibility: the same name on every node (each in its own domain). */
export const meshOutboxStream = (vis: MeshVisibility) => (vis === 'cluster' ? 'MESH_CLUSTER' : 'MESH_PUBLIC')
/** The inbox stream that sources one peer's outboxes: what is in it came over that peer's link. */
export const meshInboxStream = (peer: string) => `MESH_IN_${peer}`
export const MESH_INBOX_PREFIX = 'MESH_IN_'

export const MESH_SUBJECT_PREFIX = 'omni.mesh'
/** What an outbox captures: `omni.mesh.<vis>.<cluster>.<node>.>` */
export const meshOutboxSubjects = (vis: MeshVisibility, cluster: string, node: string) => `${MESH_SUBJECT_PREFIX}.${vis}.${cluster}.${node}.>`

/** Where the events stream keeps admitted received events: `omni.rcv.<vis>.<cluster>.<node>.<producer>.<event>.v<n>`. */
export const RECEIVED_SUBJECT_PREFIX = 'omni.rcv'

/** `omni.evt.ingest.message-received.v1` → its tail, `ingest.message-received.v1`. */
const eventTail = (eventSubject: string) => eventSubject.split('.').slice(2).join('.')

/** The subject an event of node/cluster takes in its outbox. */
export function meshOutboxSubject(vis: MeshVisibility, cluster: string, node: string, eventSubject: string): string {
  return `${MESH_SUBJECT_PREFIX}.${vis}.${cluster}.${node}.${eventTail(eventSubject)}`
}

/** The subject an admitted received event takes in the receiving node's events stream. */
export function receivedSubject(vis: MeshVisibility, cluster: string, node: string, eventSubject: string): string {
  return `${RECEIVED_SUBJECT_PREFIX}.${vis}.${cluster}.${node}.${eventTail(eventSubject)}`
}

/** The parts of an outbox or received subject; undefined when it is neither. */
export interface MeshSubjectParts {
  readonly vis: MeshVisibility
  readonly cluster: string
  readonly node: string
  /** the event subject it carries, `omni.evt.<producer>.<event>.v<n>` */
  readonly eventSubject: string
}

export function parseMeshSubject(subject: string): MeshSubjectParts | undefined {
  const t = subject.split('.')
  if (t.length !== 8 || t[0] !== 'omni' || (t[1] !== 'mesh' && t[1] !== 'rcv')) return undefined
  const [, , vis, cluster, node, producer, event, version] = t as [string, string, string, string, string, string, string, string]
  if ((vis !== 'cluster' && vis !== 'public') || !MESH_NAME_RE.test(cluster) || !MESH_NAME_RE.test(node)) return undefined
  return { vis, cluster, node, eventSubject: `omni.evt.${producer}.${event}.${version}` }
}

/**
 * The NATS filter for received events a pipeline source selects: a visibility (or any), a
 * node (or any) and an event type (dots become dashes in the subject, as in eventSubject).
 */
export function receivedFilter(vis: MeshVisibility | '*', node: string | '*', type: string): string {
  return `${RECEIVED_SUBJECT_PREFIX}.${vis}.*.${node}.*.${type.replace(/\./g, '-')}.*`
}

/** The subject a source node's consumer delivers one outbox to one receiving node on. */
export const meshDeliverSubject = (sourceCluster: string, source: string, vis: MeshVisibility, receiver: string) => `mesh.dlv.${sourceCluster}.${source}.${vis}.${receiver}`
export const MESH_DELIVER_PREFIX = 'mesh.dlv'

/** Presence: every node says who it is on `mesh.hello.<cluster>.<node>` every few seconds. */
export const meshHelloSubject = (cluster: string, node: string) => `mesh.hello.${cluster}.${node}`
export const MESH_HELLO_ALL = 'mesh.hello.>'
/** A node answers its mesh status (JSON) to requests here, on its own server only: no hub permission lets this subject cross a link. */
export const MESH_STATUS_SUBJECT = 'mesh.status'

/** The JetStream API prefix of another node's domain. */
export const meshApiPrefix = (node: string) => `$JS.${node}.API`

/**
 * The outbox stream's metadata key for its epoch: a random id set when the outbox is created.
 * A recreated outbox (a wiped store) starts again at sequence 1; its new epoch tells receivers so.
 */
export const MESH_OUTBOX_EPOCH_KEY = 'omni_mesh_epoch'
/** The inbox stream's metadata key for the epoch of the peer's outbox of `vis` it sources. */
export const meshInboxEpochKey = (vis: MeshVisibility) => `omni_mesh_epoch_${vis}`

/** The sequence a Nats-Stream-Source header names (`<source>[:<hash>] <seq> …`); undefined when unreadable. */
export function sourcedSequence(header: string | undefined): number | undefined {
  const seq = Number(header?.split(' ')[1])
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined
}

/** The header JetStream sets on a sourced message: `<source name>[:<hash>] <seq> …`, written by the receiving server. */
export const STREAM_SOURCE_HEADER = 'Nats-Stream-Source'

/** The outbox a sourced message came from, read from the header the receiving server wrote; undefined when absent or foreign. */
export function sourcedOutbox(header: string | undefined): MeshVisibility | undefined {
  const name = header?.split(' ', 1)[0]?.split(':', 1)[0]
  return name === 'MESH_CLUSTER' ? 'cluster' : name === 'MESH_PUBLIC' ? 'public' : undefined
}
