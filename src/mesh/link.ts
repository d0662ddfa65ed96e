import type { Logger } from '../observability/logger.ts'
import type { MeshConfig } from './config.ts'

/**
 * The node's leaf links, read from its own nats-server's monitoring endpoint (`/leafz`): the
 * outbound link to its hub (`is_spoke: true` there) and, on a hub, the leaves connected to it.
 * Polled every interval so that "up since" and "down since" are known, not only "up now".
 */

/** none: a hub that federates with nobody has no hub link */
export type LinkState = 'up' | 'down' | 'unknown' | 'none'

export interface LinkStatus {
  /** unknown: the node does not run its server (no monitoring endpoint), or it never answered */
  readonly state: LinkState
  /** when the state began (ISO 8601) */
  readonly since: string
  /** the hub URLs configured (empty for a hub federating with nobody) */
  readonly hubs: readonly string[]
  /** the server name at the other end of the hub link, while it is up */
  readonly remote: string | undefined
  readonly rtt: string | undefined
  /** on a hub: the nodes connected to it as leaves (their server names) */
  readonly leaves: readonly string[]
  /** times the hub link was lost in the last minute */
  readonly dropsLastMinute: number
  /**
   * true when the link keeps being dropped: the hub drops one of two leaf connections with the
   * same server name ("Duplicate Remote LeafNode Connection"), so another server runs as this node
   */
  readonly flapping: boolean
}

export interface LinkWatch {
  status(): LinkStatus
  /** how many times the hub link was lost since the watch started */
  drops(): number
  /** resolves once the hub link is up, or after `ms` (whatever its state); right away for a node with no hub */
  waitUp(ms: number): Promise<void>
  close(): void
}

interface LeafzEntry {
  /** the connection's id on this server: a new one after every reconnect */
  readonly id?: number
  readonly name?: string
  readonly is_spoke?: boolean
  readonly rtt?: string
}

/** One reading of /leafz, or undefined when the endpoint does not answer. */
export async function readLeafz(monitorUrl: string): Promise<readonly LeafzEntry[] | undefined> {
  try {
    const res = await fetch(`${monitorUrl}/leafz`, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) return undefined
    return ((await res.json()) as { leafs?: LeafzEntry[] }).leafs ?? []
  } catch {
    return undefined
  }
}

/** How often /leafz is read at most: a flapping link (up ≈ 1 s, down ≈ 1 s) shows within a few readings. */
const POLL_MS = 500
/** Drops in a minute that mean the link flaps rather than had a bad moment. */
const FLAPPING_DROPS = 3

/** Starts watching the links every `intervalMs`; without a monitoring endpoint every state is unknown. */
export function watchLink(mesh: MeshConfig, monitorUrl: string | undefined, intervalMs: number, logger: Logger): LinkWatch {
  const needsHub = mesh.hubs.length > 0
  let state: LinkState = needsHub ? 'unknown' : 'none'
  let since = Date.now()
  let remote: string | undefined
  let rtt: string | undefined
  let leaves: string[] = []
  let connection: number | undefined
  let drops = 0
  const recentDrops: number[] = []
  const waiters = new Set<() => void>()
  let polling = false
  let warned = false
  const poll = async () => {
    // one reading at a time, so that readings are compared in the order they were taken
    if (!monitorUrl || polling) return
    polling = true
    const leafs = await readLeafz(monitorUrl).finally(() => (polling = false))
    const hub = leafs?.find((l) => l.is_spoke === true)
    const next: LinkState = !needsHub ? 'none' : leafs === undefined ? 'unknown' : hub ? 'up' : 'down'
    // a lost link is counted even when it came back between two readings: its connection id changed
    const lost = state === 'up' && (next === 'down' || (next === 'up' && hub?.id !== connection))
    if (lost) {
      drops++
      recentDrops.push(Date.now())
      while (recentDrops[0]! < Date.now() - 60_000) recentDrops.shift()
      if (recentDrops.length >= FLAPPING_DROPS && !warned) {
        warned = true
        logger.error({ node: mesh.node, drops: recentDrops.length }, `the link to the hub keeps being dropped: another server may be running as mesh node "${mesh.node}" (the hub keeps one leaf connection per server name)`)
      }
      if (recentDrops.length < FLAPPING_DROPS) warned = false
    }
    if (next !== state || lost) {
      state = next
      since = Date.now()
    }
    connection = hub?.id
    remote = hub?.name
    rtt = hub?.rtt
    leaves = (leafs ?? []).filter((l) => l.is_spoke !== true && l.name !== undefined).map((l) => l.name as string).sort()
    if (state === 'up') for (const w of waiters) w()
  }
  const first = poll()
  // read often enough to see a link that is dropped every second or two
  const timer = setInterval(() => void poll(), Math.min(intervalMs, POLL_MS))
  timer.unref()
  return {
    status: () => {
      while (recentDrops.length > 0 && recentDrops[0]! < Date.now() - 60_000) recentDrops.shift()
      return { state, since: new Date(since).toISOString(), hubs: mesh.hubs, remote, rtt, leaves, dropsLastMinute: recentDrops.length, flapping: recentDrops.length >= FLAPPING_DROPS }
    },
    drops: () => drops,
    async waitUp(ms) {
      await first
      if (!needsHub || !monitorUrl || state === 'up') return
      // polled faster than the watch while someone waits: a start should not lose a whole interval
      const fast = setInterval(() => void poll(), 100)
      try {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timeout)
            waiters.delete(done)
            resolve()
          }
          const timeout = setTimeout(done, ms)
          waiters.add(done)
        })
      } finally {
        clearInterval(fast)
      }
    },
    close: () => {
      clearInterval(timer)
      for (const w of waiters) w()
    },
  }
}
