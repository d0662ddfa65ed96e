// The mesh the ledger and the bench run on: a hub and two leaves of cluster `a` on loopback, one
// nats-server each, configured exactly as a node configures its own (meshServerTopology), with
// a1's leaf link through a TCP proxy so a harness can cut it. The harness is the operator here:
// it runs the servers, and platforms join them with `nats: { url }` plus their mesh config.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { MeshConfig, MeshMember } from '../../src/mesh/config.ts'
import { meshServerTopology } from '../../src/mesh/permissions.ts'
import { startNatsServer, type ManagedNatsServer, type NatsCredentials } from '../../src/server/mod.ts'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts'

export type MeshNodeName = 'hub-a' | 'a1' | 'a2'
export const MESH_CLUSTER_NAME = 'a'

export interface MeshServers {
  readonly hub: ManagedNatsServer
  readonly a1: ManagedNatsServer
  readonly a2: ManagedNatsServer
  /** between a1 and the hub: `cut()` it to take a1's leaf link down (none when a1 links straight to the hub) */
  readonly proxy: TcpProxy | undefined
  /** each node's mesh configuration, as `startNode({ mesh })` takes it */
  readonly configs: Readonly<Record<MeshNodeName, MeshConfig>>
  /** the platform's own login on every server */
  readonly platform: NatsCredentials
  /** leaf connections a server has now, from its monitoring endpoint (0 when it does not answer) */
  leafLinks(server: ManagedNatsServer): Promise<number>
  /** waits (bounded) until the hub has both leaves and each leaf its hub; false when the time ran out */
  linked(timeoutMs?: number): Promise<boolean>
  /** stops the proxy and the servers (leaves first) */
  close(): Promise<void>
}

export interface MeshServerOptions {
  /** a folder for the servers' stores */
  readonly dir: string
  /** JetStream fsync policy (default `always`, as the ledger needs) */
  readonly syncInterval?: string
  /**
   * a1 reaches the hub through the cutting proxy (default true, what the fault scenarios need).
   * The bench links a1 straight to the hub, as a real leaf is: the proxy is a Node process
   * forwarding every byte, on the same two cores as the servers and the nodes it measures.
   */
  readonly a1ThroughProxy?: boolean
}

/** A port nothing listens on right now (nats-server cannot report a leaf port it picked). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const { port } = s.address() as { port: number }
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

const secret = () => randomBytes(18).toString('hex')
const NO_TRUST_RULES = { rules: [] }
const SOVEREIGNTY = { default: 'L1', keys: {}, tiers: {} } as const

/** The configs of hub-a, a1 and a2; a1 reaches the hub at `a1HubPort` (the proxy's port). */
export function meshConfigs(hubPort: number, a1HubPort: number): Record<MeshNodeName, MeshConfig> {
  const member = (node: string): MeshMember => ({ node, cluster: MESH_CLUSTER_NAME, credentials: { user: node, password: secret() } })
  const members = [member('a1'), member('a2')]
  const base = { cluster: MESH_CLUSTER_NAME, trust: NO_TRUST_RULES, sovereignty: SOVEREIGNTY, startOffline: false }
  const leaf = (node: 'a1' | 'a2', port: number, peer: 'a1' | 'a2'): MeshConfig => ({
    ...base,
    node,
    role: 'leaf',
    hubs: [`nats-leaf://127.0.0.1:${port}`],
    credentials: members.find((m) => m.node === node)?.credentials as NatsCredentials,
    members: [],
    peers: [{ node: peer, cluster: MESH_CLUSTER_NAME }],
  })
  return {
    'hub-a': { ...base, node: 'hub-a', role: 'hub', hubs: [], listen: { host: '127.0.0.1', port: hubPort }, members, peers: [] },
    a1: leaf('a1', a1HubPort, 'a2'),
    a2: leaf('a2', hubPort, 'a1'),
  }
}

/** Starts hub-a, then a1 (through the proxy) and a2, and waits until every leaf link is up. */
export async function startMeshServers(opts: MeshServerOptions): Promise<MeshServers> {
  const hubPort = await freePort()
  const proxy = opts.a1ThroughProxy === false ? undefined : await startTcpProxy({ host: '127.0.0.1', port: hubPort })
  const configs = meshConfigs(hubPort, proxy?.port ?? hubPort)
  const platform: NatsCredentials = { user: 'omni', password: secret() }
  const started: ManagedNatsServer[] = []
  const start = async (name: MeshNodeName) => {
    const cfg = configs[name]
    const server = await startNatsServer({ port: 0, host: '127.0.0.1', syncInterval: opts.syncInterval ?? 'always', stopTimeoutMs: 5000, storeDir: join(opts.dir, name), serverName: name, auth: platform, topology: meshServerTopology(cfg) })
    started.push(server)
    return server
  }
  const close = async () => {
    await proxy?.close()
    for (const s of [...started].reverse()) await s.close()
  }
  try {
    const hub = await start('hub-a')
    const a1 = await start('a1')
    const a2 = await start('a2')
    const leafLinks = async (server: ManagedNatsServer) => {
      if (!server.monitorUrl) return 0
      try {
        const res = await fetch(`${server.monitorUrl}/leafz`, { signal: AbortSignal.timeout(2000) })
        return ((await res.json()) as { leafnodes?: number }).leafnodes ?? 0
      } catch {
        return 0
      }
    }
    const linked = async (timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs
      while (Date.now() < until) {
        const [h, l1, l2] = await Promise.all([hub, a1, a2].map(leafLinks))
        if (h === 2 && l1 === 1 && l2 === 1) return true
        await new Promise((r) => setTimeout(r, 100))
      }
      return false
    }
    const servers: MeshServers = { hub, a1, a2, proxy, configs, platform, leafLinks, linked, close }
    if (!(await linked())) throw new Error('the mesh did not link up in 20 s: hub-a should have a1 and a2 as leaves')
    return servers
  } catch (err) {
    await close()
    throw err
  }
}
