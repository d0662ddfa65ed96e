/**
 * The parts of a nats-server config that join servers together: users with permissions, a
 * JetStream domain, leaf-node listeners and remotes, and the loopback monitoring port. The server
 * layer renders them and knows nothing of what they mean; src/mesh decides who may do what.
 */

/** Subjects a user may publish and subscribe to; a `deny` wins over an `allow`. */
export interface NatsPermissions {
  readonly publish?: { readonly allow?: readonly string[]; readonly deny?: readonly string[] }
  readonly subscribe?: { readonly allow?: readonly string[]; readonly deny?: readonly string[] }
}

/** A user of the server beside the platform's own: a leaf node's login at its hub. */
export interface NatsUser {
  readonly user: string
  readonly password: string
  readonly permissions: NatsPermissions
  /**
   * How the user may connect. A leaf node's user must be `LEAFNODE` only: without it a plain
   * client could log in with the leaf's password and bypass the leaf-side settings.
   */
  readonly connectionTypes: readonly ('STANDARD' | 'LEAFNODE')[]
}

/** A hub this server joins as a leaf node. */
export interface LeafRemote {
  /** `nats-leaf://host:port` URLs, tried in turn */
  readonly urls: readonly string[]
  readonly user: string
  readonly password: string
  /**
   * subjects this server never takes in from the hub, whatever the hub's config grants; nats-server
   * also checks them against what it sends to the hub's subscriptions, so they hold both ways
   */
  readonly denyImports?: readonly string[]
  /** subjects this server never sends to the hub */
  readonly denyExports?: readonly string[]
}

/**
 * The routes that make this server one of a cluster: JetStream then keeps each stream's copies
 * (its replicas) on different servers, and a stream survives the loss of a minority of them.
 */
export interface ClusterRoutes {
  /** the cluster's name, the same on every server */
  readonly name: string
  /** where this server listens for routes from the others (a fixed port: the others must know it) */
  readonly host: string
  readonly port: number
  /** `nats-route://host:port` of the other servers (its own may be listed too; it is skipped) */
  readonly routes: readonly string[]
}

export interface ServerTopology {
  /** this server's JetStream domain: its streams are reached from elsewhere as `$JS.<domain>.API` */
  readonly domain?: string
  /** users beside the platform's own */
  readonly users?: readonly NatsUser[]
  /** what the platform's own user may do (default: everything) */
  readonly platformPermissions?: NatsPermissions
  /** the connection types the platform's own user may use (default: any) */
  readonly platformConnectionTypes?: readonly ('STANDARD' | 'LEAFNODE')[]
  /** accept leaf nodes on this host and port (a fixed port: nats-server does not report a picked one) */
  readonly leafListen?: { readonly host: string; readonly port: number }
  /** hubs to join as a leaf */
  readonly leafRemotes?: readonly LeafRemote[]
  /** serve /varz, /leafz and /jsz on 127.0.0.1 at this port (0: the server picks one) */
  readonly monitorPort?: number
  /** join a cluster of servers by routes (needs a server name) */
  readonly cluster?: ClusterRoutes
}

const q = (s: string) => JSON.stringify(s)
const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`

function renderPermissions(p: NatsPermissions): string {
  const part = (name: string, rule: { readonly allow?: readonly string[]; readonly deny?: readonly string[] } | undefined) => {
    if (!rule) return []
    const inner = [...(rule.allow ? [`allow: ${list(rule.allow)}`] : []), ...(rule.deny ? [`deny: ${list(rule.deny)}`] : [])]
    return [`${name}: { ${inner.join(', ')} }`]
  }
  return `{ ${[...part('publish', p.publish), ...part('subscribe', p.subscribe)].join(', ')} }`
}

function renderUser(u: { user: string; password: string; permissions?: NatsPermissions | undefined; connectionTypes?: readonly string[] | undefined }): string {
  const fields = [`user: ${q(u.user)}`, `password: ${q(u.password)}`]
  if (u.permissions) fields.push(`permissions: ${renderPermissions(u.permissions)}`)
  if (u.connectionTypes) fields.push(`allowed_connection_types: ${list(u.connectionTypes)}`)
  return `    { ${fields.join(', ')} }`
}

/** The `authorization` block: the platform's user first, then every other user. */
export function renderAuthorization(platform: { user: string; password: string }, t: ServerTopology | undefined): string[] {
  if (!t?.users?.length && !t?.platformPermissions && !t?.platformConnectionTypes) {
    return ['authorization {', `  user: ${q(platform.user)}`, `  password: ${q(platform.password)}`, '}']
  }
  const users = [renderUser({ ...platform, permissions: t.platformPermissions, connectionTypes: t.platformConnectionTypes }), ...(t.users ?? []).map(renderUser)]
  return ['authorization {', '  users: [', ...users, '  ]', '}']
}

/** The leafnodes and cluster blocks and the monitoring port, or nothing when the server joins neither. */
export function renderTopology(t: ServerTopology | undefined): string[] {
  if (!t) return []
  const lines: string[] = []
  if (t.cluster) {
    const c = t.cluster
    lines.push('cluster {', `  name: ${q(c.name)}`, `  host: ${q(c.host)}`, `  port: ${c.port}`)
    if (c.routes.length > 0) lines.push(`  routes: ${list(c.routes)}`)
    lines.push('}')
  }
  if (t.monitorPort !== undefined) lines.push(`http: ${q(`127.0.0.1:${t.monitorPort === 0 ? -1 : t.monitorPort}`)}`)
  if (t.leafListen || t.leafRemotes?.length) {
    lines.push('leafnodes {')
    if (t.leafListen) lines.push(`  host: ${q(t.leafListen.host)}`, `  port: ${t.leafListen.port}`)
    if (t.leafRemotes?.length) {
      lines.push('  remotes: [')
      for (const r of t.leafRemotes) {
        const urls = r.urls.map((u) => withUserInfo(u, r.user, r.password))
        const fields = [`urls: ${list(urls)}`, 'ignore_discovered_servers: true']
        if (r.denyImports?.length) fields.push(`deny_imports: ${list(r.denyImports)}`)
        if (r.denyExports?.length) fields.push(`deny_exports: ${list(r.denyExports)}`)
        lines.push(`    { ${fields.join(', ')} }`)
      }
      lines.push('  ]')
    }
    lines.push('}')
  }
  return lines
}

/**
 * A leaf URL with the login inside: nats-server reads plain users only from the URL (a
 * `credentials` file is for JWT accounts). The config file that holds it is written mode 0600.
 */
function withUserInfo(url: string, user: string, password: string): string {
  const u = new URL(url)
  u.username = encodeURIComponent(user)
  u.password = encodeURIComponent(password)
  return u.toString().replace(/\/$/, '')
}
