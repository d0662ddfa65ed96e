import { RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamSource } from '@nats-io/jetstream'
import { DEFAULT_DUPLICATE_WINDOW_MS, isNotFound } from '../jetstream/topology.ts'
import { MESH_INBOX_PREFIX, MESH_VISIBILITIES, meshApiPrefix, meshDeliverSubject, meshInboxStream, meshOutboxStream, type MeshVisibility } from '../wire/mod.ts'
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

/** The configuration of a new inbox; `metadata` records the epochs of the peer's outboxes it sources. */
export function inboxStreamConfig(name: string, sources: StreamSource[], metadata?: Record<string, string>): Partial<StreamConfig> & { name: string } {
  return { name, subjects: [], sources, storage: StorageType.File, retention: RetentionPolicy.Limits, duplicate_window: ns(DEFAULT_DUPLICATE_WINDOW_MS), max_age: ns(WEEK_MS), ...(metadata ? { metadata } : {}) }
}

/** A source as the comparison sees it: what this node sets, whatever else the server adds. */
const sourceKey = (s: StreamSource) => `${s.name} ${s.external?.api ?? ''} ${s.external?.deliver ?? ''}`
const sameSources = (a: readonly StreamSource[] | undefined, b: readonly StreamSource[]) => JSON.stringify((a ?? []).map(sourceKey).sort()) === JSON.stringify(b.map(sourceKey).sort())

/**
 * Creates the inbox `MESH_IN_<peer>` for each peer, or gives an existing one the sources the
 * configuration asks for now (left alone when they are the same). What is in an inbox came over
 * that peer's link: the stream takes no subjects of its own, so nothing on this node can publish
 * into it. Returns what changed, for the log.
 */
export async function ensureInboxes(jsm: JetStreamManager, cluster: string, receiver: string, peers: readonly MeshPeer[]): Promise<string[]> {
  const changed: string[] = []
  for (const peer of peers) {
    const name = meshInboxStream(peer.node)
    const sources = inboxSources(cluster, receiver, peer)
    const existing = await jsm.streams.info(name).then(
      (info) => info.config,
      (err: unknown) => {
        if (isNotFound(err)) return undefined
        throw err
      },
    )
    if (!existing) {
      await jsm.streams.add(inboxStreamConfig(name, sources))
    } else if (!sameSources(existing.sources, sources)) {
      await jsm.streams.update(name, { ...existing, sources })
      changed.push(`mesh inbox ${name} now sources ${sources.map((s) => s.name).join(', ')} of ${peer.node}`)
    }
  }
  // a peer no longer configured: its inbox stops sourcing (kept, so adding the peer back
  // resumes where it was rather than receiving everything again)
  for await (const name of jsm.streams.names()) {
    if (!name.startsWith(MESH_INBOX_PREFIX) || peers.some((p) => meshInboxStream(p.node) === name)) continue
    const info = await jsm.streams.info(name)
    if ((info.config.sources ?? []).length === 0) continue
    await jsm.streams.update(name, { ...info.config, sources: [] })
    changed.push(`mesh inbox ${name} stopped sourcing: ${name.slice(MESH_INBOX_PREFIX.length)} is no longer a peer`)
  }
  return changed
}
