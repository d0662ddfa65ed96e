import type { NatsCredentials } from '../server/mod.ts'

/** Who reviews a cartridge another node published, per publisher key or tier (see docs/mesh.md). */
export type SovereigntyLevel = 'L1' | 'L2' | 'L3'

/** A node allowed to join this hub, with the login it uses. */
export interface MeshMember {
  readonly node: string
  /** a member of another cluster is that cluster's hub, federated for `public` events only */
  readonly cluster: string
  readonly credentials: NatsCredentials
}

/** A peer's events land in this tenant unless its entry lists others. */
export const DEFAULT_PEER_TENANT = 'default'
/** In a peer's `tenants`: any tenant of this node (never implied, only written). */
export const ANY_TENANT = '*'

/** A node whose `cluster` (same cluster only) and `public` events this node receives. */
export interface MeshPeer {
  readonly node: string
  readonly cluster: string
  /**
   * This node's tenants the peer's events may land in: tenant names are each node's own (bound
   * to its tokens), so a peer never picks one freely. Absent: [DEFAULT_PEER_TENANT]; [ANY_TENANT]: any.
   */
  readonly tenants?: readonly string[]
}

/** Whether an event of `peer` naming `tenant` may land in that tenant of this node. */
export function peerTenantAllowed(peer: MeshPeer, tenant: string): boolean {
  const allowed = peer.tenants ?? [DEFAULT_PEER_TENANT]
  return allowed.includes(ANY_TENANT) || allowed.includes(tenant)
}

/** The guard.trust configuration applied to every received event before anything else. */
export interface MeshTrust {
  readonly rules: readonly { readonly when: string; readonly outcome: 'accept' | 'flag' | 'quarantine' | 'reject'; readonly reason?: string }[]
  readonly default?: 'accept' | 'flag' | 'quarantine' | 'reject'
}

export interface MeshSovereignty {
  /** the level for a publisher key and tier named nowhere below (default L1: a person approves) */
  readonly default: SovereigntyLevel
  /** by publisher key id; a key's level wins over its tier's */
  readonly keys: Readonly<Record<string, SovereigntyLevel>>
  /** by tier (core, verified, community, alpha) */
  readonly tiers: Readonly<Record<string, SovereigntyLevel>>
}

/**
 * How this node joins the mesh, checked and with credentials read: what `omni up --mesh` (a
 * `kind: Mesh` manifest) or its flags give `startNode`. See src/mesh/manifest.ts for the file.
 */
export interface MeshConfig {
  /** this node's name: also its JetStream domain and its nats-server's name; unique in the mesh */
  readonly node: string
  readonly cluster: string
  readonly role: 'hub' | 'leaf'
  /**
   * `nats-leaf://host:port` of the hub: a leaf's own hub, or for a hub the hub of the cluster it
   * federates with (public events only); empty for a hub that federates with nobody
   */
  readonly hubs: readonly string[]
  /** this node's login at `hubs` */
  readonly credentials?: NatsCredentials
  /** the file `credentials` was read from, named in errors (a refused login, say) */
  readonly credentialsFile?: string
  /** where a hub accepts leaf nodes */
  readonly listen?: { readonly host: string; readonly port: number }
  /** the nodes a hub admits */
  readonly members: readonly MeshMember[]
  /** the nodes this node receives events from */
  readonly peers: readonly MeshPeer[]
  readonly trust: MeshTrust
  readonly sovereignty: MeshSovereignty
  /** start even when no hub answers (default false: an unreachable hub is a configuration error) */
  readonly startOffline: boolean
  /** how often presence says hello and the hub link is read, in ms (default 2000; a peer is down after 3 missed) */
  readonly presenceIntervalMs?: number
}
