import { randomUUID } from 'node:crypto'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import { omniError } from '../errors/mod.ts'
import type { Logger } from '../observability/logger.ts'
import { MESH_HELLO_ALL, MESH_NAME_RE, meshHelloSubject } from '../wire/mod.ts'
import type { MeshConfig } from './config.ts'
import type { OutboxMark, OutboxMarks } from './outbox.ts'

/**
 * Presence: every node says who it is on `mesh.hello.<cluster>.<node>` every interval, and
 * listens to everyone else's. A peer silent for `missed` intervals is down. The hub lets node N
 * publish only on its own hello subject, so a second voice on it is the same credentials used twice.
 */

/** What a node says about itself; `instance` is random per process, so a clash shows. */
export interface Hello {
  readonly node: string
  readonly cluster: string
  readonly role: 'hub' | 'leaf'
  readonly instance: string
  readonly startedAt: string
  /** per outbox, its epoch and last sequence: a receiver tells from them that an outbox was recreated */
  readonly outboxes?: OutboxMarks
}

export type PeerState = 'up' | 'down' | 'unknown'

/** One node as this node sees it. */
export interface PeerPresence {
  readonly node: string
  readonly cluster: string
  readonly role: 'hub' | 'leaf' | undefined
  /** unknown: never heard from since this node started */
  readonly state: PeerState
  /** when the state began (ISO 8601); for unknown, when this node started listening */
  readonly since: string
  readonly lastSeen: string | undefined
  /** the peer's process start, from its last hello */
  readonly startedAt: string | undefined
  /** true for a node named in `peers`; others are shown when they speak */
  readonly configured: boolean
}

/** Another process speaking as this node. */
export interface NameClash {
  readonly instance: string
  readonly startedAt: string
  readonly lastSeen: string
}

export interface Presence {
  readonly instance: string
  peers(): PeerPresence[]
  clashes(): NameClash[]
  close(): Promise<void>
}

export interface PresenceOptions {
  readonly mesh: MeshConfig
  readonly nc: NatsConnection
  readonly logger: Logger
  /** how often a hello is sent (default 2 s) */
  readonly intervalMs?: number
  /** hellos missed before a peer is down (default 3) */
  readonly missed?: number
  /**
   * Resolves once the link to the hub is up (or right away for a node without one): the check
   * for another process speaking as this node listens only from then on.
   */
  readonly linkUp?: () => Promise<void>
  /** how many times the hub link was lost so far (see LinkWatch.drops) */
  readonly linkDrops?: () => number
  /** this node's outboxes as its hello reports them (read before each hello) */
  readonly outboxMarks?: () => Promise<OutboxMarks>
  /** called with each hello of a configured peer */
  readonly onPeerHello?: (hello: Hello) => void
}

export const PRESENCE_INTERVAL_MS = 2000
export const PRESENCE_MISSED = 3

/** Hellos are tiny; anything larger or of another shape is ignored rather than trusted. */
const MAX_HELLO_BYTES = 1024

interface Tracked {
  node: string
  cluster: string
  role: 'hub' | 'leaf' | undefined
  state: PeerState
  since: number
  lastSeen: number | undefined
  startedAt: string | undefined
  configured: boolean
}

/**
 * Starts presence: subscribes to every hello, waits for the hub link, listens one interval for
 * another process speaking as this node (refusing to start with OMNI_ERR_MESH_NAME_TAKEN when
 * one does), then says hello every interval.
 */
export async function startPresence(opts: PresenceOptions): Promise<Presence> {
  const { mesh, nc, logger } = opts
  const intervalMs = opts.intervalMs ?? PRESENCE_INTERVAL_MS
  const missed = opts.missed ?? PRESENCE_MISSED
  const instance = randomUUID()
  const startedAt = new Date().toISOString()
  const hello: Hello = { node: mesh.node, cluster: mesh.cluster, role: mesh.role, instance, startedAt }
  const subject = meshHelloSubject(mesh.cluster, mesh.node)
  const key = (cluster: string, node: string) => `${cluster}/${node}`
  const peers = new Map<string, Tracked>()
  const began = Date.now()
  for (const p of mesh.peers) peers.set(key(p.cluster, p.node), { node: p.node, cluster: p.cluster, role: undefined, state: 'unknown', since: began, lastSeen: undefined, startedAt: undefined, configured: true })
  const clashes = new Map<string, NameClash>()

  const onHello = (subject: string, data: Uint8Array) => {
    const h = parseHello(subject, data)
    if (!h) return
    const now = Date.now()
    if (h.node === mesh.node && h.cluster === mesh.cluster) {
      if (h.instance === instance) return
      if (!clashes.has(h.instance)) logger.error({ node: mesh.node, instance: h.instance, startedAt: h.startedAt }, `another process speaks as mesh node "${mesh.node}" (the same credentials used twice?)`)
      clashes.set(h.instance, { instance: h.instance, startedAt: h.startedAt, lastSeen: new Date(now).toISOString() })
      return
    }
    const k = key(h.cluster, h.node)
    const p = peers.get(k) ?? { node: h.node, cluster: h.cluster, role: h.role, state: 'unknown' as PeerState, since: now, lastSeen: undefined, startedAt: undefined, configured: false }
    if (p.state !== 'up') {
      p.state = 'up'
      p.since = now
      if (p.configured) logger.info({ peer: h.node, cluster: h.cluster }, 'mesh peer up')
    }
    p.role = h.role
    p.lastSeen = now
    p.startedAt = h.startedAt
    peers.set(k, p)
    if (p.configured) opts.onPeerHello?.(h)
  }
  const sub: Subscription = nc.subscribe(MESH_HELLO_ALL, { callback: (err, m) => (err ? undefined : onHello(m.subject, m.data)) })

  const sweep = () => {
    const now = Date.now()
    for (const p of peers.values()) {
      if (p.state === 'up' && p.lastSeen !== undefined && now - p.lastSeen > missed * intervalMs) {
        p.state = 'down'
        p.since = now
        if (p.configured) logger.warn({ peer: p.node, cluster: p.cluster, lastSeen: new Date(p.lastSeen).toISOString() }, 'mesh peer down')
      }
    }
    // a clash not heard from for as long as a peer takes to go down is over
    for (const [id, c] of clashes) if (now - Date.parse(c.lastSeen) > missed * intervalMs) clashes.delete(id)
  }

  try {
    await checkNameFree({ ...opts, intervalMs, clashes: () => [...clashes.values()] })
  } catch (err) {
    sub.unsubscribe()
    throw err
  }
  const say = async () => {
    // a hello without outbox marks still says the node is up
    const outboxes = await opts.outboxMarks?.().catch((err: unknown) => {
      logger.warn({ err }, 'mesh hello: cannot read the outboxes')
      return undefined
    })
    // the outboxes are read asynchronously: presence or the connection may have closed meanwhile
    if (stopped || nc.isClosed() || nc.isDraining()) return
    try {
      nc.publish(subject, JSON.stringify(outboxes ? { ...hello, outboxes } : hello))
    } catch (err) {
      logger.debug({ err }, 'mesh hello not sent: the connection is closing')
    }
  }
  let stopped = false
  void say()
  const timer = setInterval(() => {
    void say()
    sweep()
  }, intervalMs)
  timer.unref()
  let closing: Promise<void> | undefined
  return {
    instance,
    peers: () =>
      [...peers.values()]
        .map((p) => ({
          node: p.node,
          cluster: p.cluster,
          role: p.role,
          state: p.state,
          since: new Date(p.since).toISOString(),
          lastSeen: p.lastSeen === undefined ? undefined : new Date(p.lastSeen).toISOString(),
          startedAt: p.startedAt,
          configured: p.configured,
        }))
        .sort((a, b) => Number(b.configured) - Number(a.configured) || a.cluster.localeCompare(b.cluster) || a.node.localeCompare(b.node)),
    clashes: () => [...clashes.values()],
    close: () =>
      (closing ??= (async () => {
        stopped = true
        clearInterval(timer)
        if (!sub.isClosed()) sub.unsubscribe()
      })()),
  }
}

/**
 * A hello, if well formed and about the node its subject names: the hub binds the subject to the
 * connection that sent it, the body it does not, so a body naming another node is ignored.
 */
/**
 * Refuses to start when another process already speaks as this node: its hello arrives within
 * one interval, or (when it runs its own server under the same name) the hub keeps dropping this
 * node's link, since NATS admits one leaf connection per server name and the two take turns.
 */
async function checkNameFree(opts: PresenceOptions & { intervalMs: number; clashes: () => NameClash[] }): Promise<void> {
  const { mesh, intervalMs } = opts
  await opts.linkUp?.()
  const drops = opts.linkDrops ?? (() => 0)
  const before = drops()
  await sleep(Math.max(intervalMs + Math.min(intervalMs, 500), DUPLICATE_MIN_WATCH_MS))
  const taken = opts.clashes()
  const who = `mesh node "${mesh.node}" of cluster "${mesh.cluster}"`
  if (taken.length > 0) throw omniError('OMNI_ERR_MESH_NAME_TAKEN', `another process already speaks as ${who} (started ${taken[0]!.startedAt}); every node needs its own name and credentials`)
  if (drops() === before) return
  // one drop may be a bad moment; a second within a few seconds is the duplicate taking turns
  await sleep(DUPLICATE_WATCH_MS)
  if (drops() - before >= 2) {
    throw omniError('OMNI_ERR_MESH_NAME_TAKEN', `the hub dropped this node's link ${drops() - before} times within seconds of joining: another server already runs as ${who} (NATS keeps one leaf connection per server name: "Duplicate Remote LeafNode Connection"); every node needs its own name and credentials`)
  }
}

/** A duplicate leaf connection takes its turn about a second after being dropped (nats-server's leaf reconnect delay). */
const DUPLICATE_MIN_WATCH_MS = 2000
/** How long the start keeps watching a link that was dropped once while checking the name. */
const DUPLICATE_WATCH_MS = 3000

function parseHello(subject: string, data: Uint8Array): Hello | undefined {
  if (data.length > MAX_HELLO_BYTES) return undefined
  const [, , cluster, node, ...rest] = subject.split('.')
  if (rest.length > 0 || node === undefined || cluster === undefined) return undefined
  try {
    const h = JSON.parse(new TextDecoder().decode(data)) as Partial<Hello>
    if (h.node !== node || h.cluster !== cluster || !MESH_NAME_RE.test(node) || !MESH_NAME_RE.test(cluster)) return undefined
    if (h.role !== 'hub' && h.role !== 'leaf') return undefined
    if (typeof h.instance !== 'string' || typeof h.startedAt !== 'string') return undefined
    const outboxes = parseOutboxes(h.outboxes)
    return { node, cluster, role: h.role, instance: h.instance, startedAt: h.startedAt, ...(outboxes ? { outboxes } : {}) }
  } catch {
    return undefined
  }
}

/** The outbox marks of a hello; anything malformed is dropped (the peer is then not checked), not trusted. */
function parseOutboxes(value: unknown): OutboxMarks | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const marks: Partial<Record<'cluster' | 'public', OutboxMark>> = {}
  for (const vis of ['cluster', 'public'] as const) {
    const m = (value as Record<string, { epoch?: unknown; lastSeq?: unknown } | undefined>)[vis]
    if (m && typeof m.epoch === 'string' && m.epoch.length > 0 && m.epoch.length <= 64 && Number.isSafeInteger(m.lastSeq) && (m.lastSeq as number) >= 0) marks[vis] = { epoch: m.epoch, lastSeq: m.lastSeq as number }
  }
  return marks
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
