import type { LeafRemote, NatsPermissions, NatsUser, ServerTopology } from '../server/mod.ts'
import { MESH_DELIVER_PREFIX, MESH_HELLO_ALL, meshHelloSubject, meshOutboxStream, type MeshVisibility } from '../wire/mod.ts'
import type { MeshConfig, MeshMember } from './config.ts'
import { linkDenies } from './link-denies.ts'

/**
 * Who may do what on the mesh, as nats-server permissions. The hub enforces them on every leaf
 * connection (`publish` = what the leaf may send in, `subscribe` = what it may receive), so a
 * leaf whose own process or config misbehaves still cannot read another node's events or send
 * as another node. Measured facts behind each entry: shared/ARCHITECTURE.md, "Leaf nodes". The
 * other side of each link has its own wall against the hub: src/mesh/link-denies.ts.
 */

/** Sourcing an outbox needs its consumer-create requests, both subject forms (with and without the filter token). */
const consumerCreate = (domain: string, vis: MeshVisibility) => [`$JS.${domain}.API.CONSUMER.CREATE.${meshOutboxStream(vis)}`, `$JS.${domain}.API.CONSUMER.CREATE.${meshOutboxStream(vis)}.>`]
/** Flow control between a sourced outbox's consumer and the sourcing stream; without it sourcing stalls at a few thousand messages. */
const flowControl = (vis: MeshVisibility) => `$JS.FC.${meshOutboxStream(vis)}.>`
/** A sourcing stream's deliver subject, and the same with the suffix the server adds to it per consumer. */
const deliveriesTo = (subject: string) => [subject, `${subject}.>`]
/** Replies to consumer-create requests. */
const CREATE_REPLIES = '$JSC.R.>'

/** What a hub lets one member do. A member of the hub's own cluster sees `cluster` and `public`; another cluster's hub only `public`. */
export function memberPermissions(hubCluster: string, member: Pick<MeshMember, 'node' | 'cluster'>): NatsPermissions {
  const { node, cluster } = member
  if (cluster === hubCluster) {
    return {
      publish: {
        allow: [
          `${MESH_DELIVER_PREFIX}.${cluster}.${node}.>`,
          ...consumerCreate('*', 'cluster'),
          ...consumerCreate('*', 'public'),
          flowControl('cluster'),
          flowControl('public'),
          CREATE_REPLIES,
          meshHelloSubject(cluster, node),
        ],
      },
      subscribe: {
        allow: [
          ...deliveriesTo(`${MESH_DELIVER_PREFIX}.${cluster}.*.cluster.${node}`),
          ...deliveriesTo(`${MESH_DELIVER_PREFIX}.*.*.public.${node}`),
          ...consumerCreate(node, 'cluster'),
          ...consumerCreate(node, 'public'),
          flowControl('cluster'),
          flowControl('public'),
          CREATE_REPLIES,
          MESH_HELLO_ALL,
        ],
      },
    }
  }
  // another cluster's hub, on behalf of every node behind it: public events only, in both directions
  return {
    publish: {
      allow: [`${MESH_DELIVER_PREFIX}.${cluster}.*.public.>`, ...consumerCreate('*', 'public'), flowControl('public'), CREATE_REPLIES, `mesh.hello.${cluster}.*`],
    },
    subscribe: {
      allow: [`${MESH_DELIVER_PREFIX}.*.*.public.>`, ...consumerCreate('*', 'public'), flowControl('public'), CREATE_REPLIES, MESH_HELLO_ALL],
    },
  }
}

/**
 * The platform's own user on a mesh node: everything on its own server except sending as a
 * mesh delivery or calling another domain's JetStream API (with those a bug in this process
 * could create its own consumer on a peer's outbox, or inject into an inbox).
 */
export const PLATFORM_PERMISSIONS: NatsPermissions = {
  publish: { deny: [`${MESH_DELIVER_PREFIX}.>`, '$JS.*.API.>'] },
}

/** The nats-server topology of a mesh node: its domain, the users a hub admits, the hub a leaf joins. */
export function meshServerTopology(mesh: MeshConfig, monitorPort = 0): ServerTopology {
  const users: NatsUser[] = mesh.role === 'hub' ? mesh.members.map((m) => ({ user: m.node, password: m.credentials.password, permissions: memberPermissions(mesh.cluster, m), connectionTypes: ['LEAFNODE'] })) : []
  // this side's own wall on its link: the hub's permissions protect the hub, these protect this node from the hub
  const denies = linkDenies(mesh)
  const remotes: LeafRemote[] =
    mesh.hubs.length > 0 && mesh.credentials
      ? [{ urls: mesh.hubs, user: mesh.credentials.user, password: mesh.credentials.password, denyImports: denies.imports, denyExports: denies.exports }]
      : []
  return {
    domain: mesh.node,
    users,
    platformPermissions: PLATFORM_PERMISSIONS,
    platformConnectionTypes: ['STANDARD'],
    ...(mesh.role === 'hub' && mesh.listen ? { leafListen: mesh.listen } : {}),
    ...(remotes.length > 0 ? { leafRemotes: remotes } : {}),
    monitorPort,
  }
}
