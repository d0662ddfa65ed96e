import type { JetStreamManager, StreamSource } from '@nats-io/jetstream'
import { DEFAULT_DUPLICATE_WINDOW_MS, upsertStream } from '../jetstream/topology.ts'
import { MESH_VISIBILITIES, meshApiPrefix, meshDeliverSubject, meshInboxStream, meshOutboxStream, type MeshVisibility } from '../wire/mod.ts'
import type { MeshPeer } from './config.ts'

const ns = (ms: number) => ms * 1_000_000
const WEEK_MS = 7 * 24 * 3_600_000

/** The outboxes of `peer` that `receiver` (of `cluster`) may source: `public` always, `cluster` only inside one cluster. */
export function inboxVisibilities(cluster: string, peer: MeshPeer): MeshVisibility[] {
  return MESH_VISIBILITIES.filter((vis) => vis === 'public' || peer.cluster === cluster)
}

/**
 * The sources of the inbox of `peer` on node `receiver`: each outbox by the peer's JetStream API
 * prefix and a deliver subject that names both ends, which the hub's permissions scope. (The
 * client's `domain` shortcut leaves `deliver` empty: it cannot be scoped and fails silently
 * under the permissions; see ARCHITECTURE.md.)
 */
export function inboxSources(cluster: string, receiver: string, peer: MeshPeer): StreamSource[] {
  return inboxVisibilities(cluster, peer).map((vis) => ({
    name: meshOutboxStream(vis),
    external: { api: meshApiPrefix(peer.node), deliver: meshDeliverSubject(peer.cluster, peer.node, vis, receiver) },
  }))
}

/**
 * Creates the inbox `MESH_IN_<peer>` for each peer, or gives an existing one the sources the
 * configuration asks for now. What is in an inbox came over that peer's link: the stream takes
 * no subjects of its own, so nothing on this node can publish into it.
 */
export async function ensureInboxes(jsm: JetStreamManager, cluster: string, receiver: string, peers: readonly MeshPeer[]): Promise<string[]> {
  const warnings: string[] = []
  for (const peer of peers) {
    warnings.push(
      ...(await upsertStream(
        jsm,
        { updateExisting: true },
        {
          name: meshInboxStream(peer.node),
          required: { subjects: [], sources: inboxSources(cluster, receiver, peer) },
          explicit: {},
          defaults: { duplicate_window: ns(DEFAULT_DUPLICATE_WINDOW_MS), max_age: ns(WEEK_MS) },
        },
      )),
    )
  }
  return warnings
}
