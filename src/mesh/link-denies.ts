import { DEDUP_BUCKET } from '../jetstream/dedup-store.ts'
import { NODE_BUCKET } from '../jetstream/running-set.ts'
import { SETTLED_BUCKET } from '../jetstream/settled-marks.ts'
import { DLQ_STREAM, EVENTS_STREAM, RAW_STREAM } from '../jetstream/topology.ts'
import { APPROVALS_BUCKET, HIGH_WATER_BUCKET, REGISTRY_BUCKET } from '../plugins/mod.ts'
import { MESH_DELIVER_PREFIX, MESH_STATUS_SUBJECT, meshInboxStream, meshOutboxStream } from '../wire/mod.ts'
import type { MeshConfig } from './config.ts'
import { PENDING_BUCKET } from './pending.ts'

/**
 * What this node's own server refuses on its link to a hub (`deny_imports`/`deny_exports` of the
 * leaf remote), whatever the hub's config says. The hub's per-member permissions protect the hub's
 * side; these protect this side from the hub: a hub run by someone else (another cluster's, or a
 * compromised one of this cluster) cannot read, pull or call anything of this node but what the
 * mesh needs. nats-server applies them on a solicited link even when the hub's INFO grants more
 * (they are merged as denies), drops a denied inbound message, and does not pass the hub interest
 * in a denied subject (server/leafnode.go, 2.15).
 *
 * A deny list has no exceptions, so it is built from what is known: every JetStream API verb but
 * consumer-create, consumer-create on every stream the platform keeps except the outboxes the
 * link may source, and every subject family the platform uses that never crosses a link.
 */

/** JetStream API verbs across domains, all but CONSUMER.CREATE (sourcing an outbox needs only that): server/jetstream_api.go. */
const JS_API_VERBS_DENIED = [
  '$JS.*.API.INFO',
  '$JS.*.API.STREAM.>',
  '$JS.*.API.DIRECT.>',
  '$JS.*.API.ACCOUNT.>',
  '$JS.*.API.META.>',
  '$JS.*.API.SERVER.>',
  ...['DURABLE', 'NAMES', 'LIST', 'INFO', 'DELETE', 'PAUSE', 'UNPIN', 'LEADER', 'MSG', 'RESET'].map((verb) => `$JS.*.API.CONSUMER.${verb}.>`),
]

/** Subject families the platform uses on its own server only: events, acks, replies, KV and object store, advisories, status. */
const NEVER_ACROSS = ['omni.>', '$JS.ACK.>', '_INBOX.>', '$KV.>', '$O.>', '$JS.EVENT.>', MESH_STATUS_SUBJECT, `${MESH_STATUS_SUBJECT}.>`]

/** The streams every node may keep that no other node sources: the backbone and every KV/object bucket the platform creates. */
const PRIVATE_STREAMS = [
  EVENTS_STREAM,
  DLQ_STREAM,
  RAW_STREAM,
  ...[DEDUP_BUCKET, SETTLED_BUCKET, NODE_BUCKET, APPROVALS_BUCKET, HIGH_WATER_BUCKET, PENDING_BUCKET].map((b) => `KV_${b}`),
  `OBJ_${REGISTRY_BUCKET}`,
]

/** Consumer-create on one stream, both subject forms (with and without the filter token). */
const consumerCreateOn = (stream: string) => [`$JS.*.API.CONSUMER.CREATE.${stream}`, `$JS.*.API.CONSUMER.CREATE.${stream}.>`]

export interface LinkDenies {
  /** what this node's server never takes in from the hub */
  readonly imports: readonly string[]
  /** what this node's server never sends to the hub */
  readonly exports: readonly string[]
}

/**
 * The deny lists of this node's link to its hub. A hub's link goes to another cluster's hub
 * (federation): there `cluster` deliveries, flow control and consumer-create of `MESH_CLUSTER`
 * are refused too.
 */
export function linkDenies(mesh: Pick<MeshConfig, 'node' | 'cluster' | 'role' | 'members' | 'peers'>): LinkDenies {
  const federation = mesh.role === 'hub'
  // an inbox MESH_IN_<x> holds x's cluster events: never sourced by anyone but its own node
  const inboxOwners = [...new Set([...mesh.members.map((m) => m.node), ...mesh.peers.map((p) => p.node)])]
  const streams = [...PRIVATE_STREAMS, ...inboxOwners.map(meshInboxStream), ...(federation ? [meshOutboxStream('cluster')] : [])]
  const both = [
    ...JS_API_VERBS_DENIED,
    ...streams.flatMap(consumerCreateOn),
    ...NEVER_ACROSS,
    ...(federation ? [`${MESH_DELIVER_PREFIX}.*.*.cluster`, `${MESH_DELIVER_PREFIX}.*.*.cluster.>`, `$JS.FC.${meshOutboxStream('cluster')}.>`] : []),
  ]
  // One list both ways: on the leaf side nats-server checks deny_imports against what it sends to
  // the hub's subscriptions too (measured: `mesh.dlv.a.a1.>` in a1's imports stopped a1's own
  // deliveries), so a subject this side sends can never be refused only on the way in.
  return { imports: both, exports: both }
}
