import type { JetStreamManager } from '@nats-io/jetstream'
import { meshMetrics } from '../observability/metrics.ts'
import type { MeshConfig } from './config.ts'
import type { LinkStatus, LinkWatch } from './link.ts'
import type { NameClash, PeerPresence, Presence } from './presence.ts'
import { readInboxes, type InboxStatus } from './sources.ts'

/** Events and bytes across the mesh since this process started, from the mesh counters. */
export interface MeshTraffic {
  /** by direction (in, out) then visibility (cluster, public) */
  readonly events: Readonly<Record<string, Readonly<Record<string, number>>>>
  readonly bytes: Readonly<Record<string, Readonly<Record<string, number>>>>
  /** received events refused, by peer then reason (forged-origin, visibility, catalog, quarantine, reject, too-large) */
  readonly refused: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/** What `omni mesh status` and `GET /v1/mesh` show about a node on the mesh. */
export interface MeshStatus {
  readonly enabled: true
  readonly node: { readonly name: string; readonly cluster: string; readonly role: 'hub' | 'leaf'; readonly hubs: readonly string[]; readonly instance: string }
  readonly link: LinkStatus
  readonly peers: readonly PeerPresence[]
  /** other processes speaking as this node right now (the same credentials used twice) */
  readonly clashes: readonly NameClash[]
  /** one per configured peer: the inbox that sources its outboxes, and how often it was recreated since start */
  readonly inboxes: readonly (InboxStatus & { readonly resets: number })[]
  readonly traffic: MeshTraffic
  readonly checkedAt: string
}

export interface MeshStatusDeps {
  readonly config: MeshConfig
  readonly presence: Presence
  readonly link: LinkWatch
  readonly jsm: JetStreamManager
}

/** Reads the node's mesh state now: presence and link from memory, inboxes from JetStream, traffic from the counters. */
export async function readMeshStatus(deps: MeshStatusDeps): Promise<MeshStatus> {
  const { config } = deps
  const [read, traffic, resets] = await Promise.all([readInboxes(deps.jsm, config.peers), readTraffic(), meshMetrics.inboxResets.get()])
  // a reset: the peer's outbox was recreated (a wiped store) and the inbox with it (peer-reset.ts)
  const inboxes = read.map((i) => ({ ...i, resets: resets.values.filter((v) => v.labels.peer === i.peer).reduce((n, v) => n + v.value, 0) }))
  return {
    enabled: true,
    node: { name: config.node, cluster: config.cluster, role: config.role, hubs: config.hubs, instance: deps.presence.instance },
    link: deps.link.status(),
    peers: deps.presence.peers(),
    clashes: deps.presence.clashes(),
    inboxes,
    traffic,
    checkedAt: new Date().toISOString(),
  }
}

async function readTraffic(): Promise<MeshTraffic> {
  const [events, bytes, refused] = await Promise.all([meshMetrics.events.get(), meshMetrics.bytes.get(), meshMetrics.refused.get()])
  return { events: nest(events.values, 'direction', 'visibility'), bytes: nest(bytes.values, 'direction', 'visibility'), refused: nest(refused.values, 'peer', 'reason') }
}

/** Counter values keyed by two of their labels: `{ in: { cluster: 3 } }`. */
function nest(values: readonly { readonly value: number; readonly labels: Partial<Record<string, string | number>> }[], outer: string, inner: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  for (const { value, labels } of values) {
    const o = String(labels[outer] ?? '')
    const i = String(labels[inner] ?? '')
    out[o] = { ...out[o], [i]: (out[o]?.[i] ?? 0) + value }
  }
  return out
}
