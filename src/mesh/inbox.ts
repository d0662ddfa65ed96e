import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamSource } from '@nats-io/jetstream'
import { DEFAULT_DUPLICATE_WINDOW_MS, isNotFound } from '../jetstream/topology.ts'
import { DEFAULT_MESH_MAX_BYTES } from './outbox.ts'
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

/** The node's events stream settings an inbox takes its limits from (node config `streams`). */
export interface InboxLimits {
  /** bytes (default DEFAULT_MESH_MAX_BYTES; -1: none) */
  readonly maxBytes?: number
  /** how long received events are kept (default a week) */
  readonly maxAgeMs?: number
  /** copies of a new inbox across a NATS cluster (default 1); the node raises existing ones */
  readonly replicas?: number
}

/**
 * The limits of an inbox: the events stream's. At the byte limit the inbox refuses what its
 * source brings (discard new) rather than deleting what the receiver may not have read yet; the
 * source then waits and carries on from there once there is room (test/mesh/inbox-limits.test.ts).
 */
export function inboxLimits(limits: InboxLimits = {}): Pick<StreamConfig, 'max_bytes' | 'discard' | 'max_age'> {
  return { max_bytes: limits.maxBytes ?? DEFAULT_MESH_MAX_BYTES, discard: DiscardPolicy.New, max_age: ns(limits.maxAgeMs ?? WEEK_MS) }
}

/** The configuration of a new inbox; `metadata` records the epochs of the peer's outboxes it sources. */
export function inboxStreamConfig(name: string, sources: StreamSource[], limits: InboxLimits = {}, metadata?: Record<string, string>): Partial<StreamConfig> & { name: string } {
  return { name, subjects: [], sources, storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: limits.replicas ?? 1, duplicate_window: ns(DEFAULT_DUPLICATE_WINDOW_MS), ...inboxLimits(limits), ...(metadata ? { metadata } : {}) }
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
export async function ensureInboxes(jsm: JetStreamManager, cluster: string, receiver: string, peers: readonly MeshPeer[], limits: InboxLimits = {}): Promise<string[]> {
  const wanted = inboxLimits(limits)
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
      await jsm.streams.add(inboxStreamConfig(name, sources, limits))
      continue
    }
    // an inbox made before it had limits (or under other node settings) takes the current ones
    const limitsDiffer = existing.max_bytes !== wanted.max_bytes || existing.discard !== wanted.discard || existing.max_age !== wanted.max_age
    const sourcesDiffer = !sameSources(existing.sources, sources)
    if (!limitsDiffer && !sourcesDiffer) continue
    await jsm.streams.update(name, { ...existing, ...wanted, sources })
    if (sourcesDiffer) changed.push(`mesh inbox ${name} now sources ${sources.map((s) => s.name).join(', ')} of ${peer.node}`)
    if (limitsDiffer) changed.push(`mesh inbox ${name} now has the events stream's limits (max_bytes ${wanted.max_bytes}, discard new, max_age ${wanted.max_age / 1e9} s)`)
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
