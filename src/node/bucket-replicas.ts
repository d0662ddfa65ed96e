import type { JetStreamManager } from '@nats-io/jetstream'
import { DEDUP_BUCKET } from '../jetstream/dedup-store.ts'
import { kvStream, objStream } from '../jetstream/replicas.ts'
import { NODE_BUCKET } from '../jetstream/running-set.ts'
import { SETTLED_BUCKET } from '../jetstream/settled-marks.ts'
import { reconcileReplicas } from '../jetstream/topology.ts'
import type { MeshConfig } from '../mesh/config.ts'
import { PENDING_BUCKET } from '../mesh/pending.ts'
import { APPROVALS_BUCKET, HIGH_WATER_BUCKET, REGISTRY_BUCKET } from '../plugins/mod.ts'
import { meshInboxStream } from '../wire/mod.ts'

/** The streams behind every KV and object store bucket the platform keeps. */
export const BUCKET_STREAMS: readonly string[] = [
  ...[DEDUP_BUCKET, SETTLED_BUCKET, NODE_BUCKET, APPROVALS_BUCKET, HIGH_WATER_BUCKET, PENDING_BUCKET].map(kvStream),
  objStream(REGISTRY_BUCKET),
]

/**
 * Raises the buckets (and a mesh node's inboxes) that existed before this start to the configured
 * replica count; their openers give the count only to a bucket they create, and a CLI command
 * (`omni plugin publish`, …) may have created one with a single copy. Never lowers any.
 * The events, dead-letter and raw streams and the outboxes are handled where they are made.
 */
export function reconcileBucketReplicas(jsm: JetStreamManager, replicas: number | undefined, mesh: MeshConfig | undefined): Promise<string[]> {
  const inboxes = mesh ? mesh.peers.map((p) => meshInboxStream(p.node)) : []
  return reconcileReplicas(jsm, [...BUCKET_STREAMS, ...inboxes], replicas)
}
