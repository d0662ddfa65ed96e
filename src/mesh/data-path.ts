import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import type { TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import type { Logger } from '../observability/logger.ts'
import type { MeshConfig } from './config.ts'
import { startExporter } from './exporter.ts'
import { ensureInboxes, type InboxLimits } from './inbox.ts'
import { ensureOutboxes } from './outbox.ts'
import type { RefusalReason } from './admission.ts'
import { outboxChecker, recordEpochs, recreateInbox } from './peer-reset.ts'
import type { Hello } from './presence.ts'
import { MESH_RECEIVER, meshTrustStage, startReceiver, type Received } from './receiver.ts'
import { meshMetrics } from '../observability/metrics.ts'
import { meshInboxStream } from '../wire/mod.ts'
import { describeError } from '../errors/mod.ts'

export interface DataPathDeps {
  readonly mesh: MeshConfig
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly catalog: () => EventCatalog
  readonly logger: Logger
  /** the node's events stream settings: the inboxes take the same limits */
  readonly streams?: InboxLimits
}

/** What one peer's receiver has done since start: for `omni mesh status` and `GET /v1/mesh`. */
export interface PeerReceipts {
  admitted: number
  refused: Partial<Record<RefusalReason, number>>
  /** when the last event from this peer was admitted (ms since the epoch) */
  lastAdmittedAt?: number
  /** how often its inbox was recreated because the peer's outbox was new (a wiped store) */
  resets: number
}

/** The running data path of a node: its exporter and one receiver per peer. */
export interface DataPath {
  readonly exporter: TrackedConsumer
  readonly receivers: ReadonlyMap<string, TrackedConsumer>
  /** per peer, what its receiver admitted and refused since start */
  receipts(): ReadonlyMap<string, Readonly<PeerReceipts>>
  /** checks a configured peer's hello against its inbox and recovers from a recreated outbox */
  peerHello(hello: Hello): void
  close(): Promise<void>
}

/**
 * Starts the mesh's data path: the outboxes and their exporter, then the inboxes and a receiver
 * per peer. Closing drains the receivers first, then the exporter.
 */
export async function startDataPath(deps: DataPathDeps): Promise<DataPath> {
  const { mesh, jsm } = deps
  const trust = meshTrustStage(mesh.trust)
  for (const w of await ensureOutboxes(jsm, mesh.cluster, mesh.node, deps.streams?.replicas)) deps.logger.warn(w)
  for (const c of await ensureInboxes(jsm, mesh.cluster, mesh.node, mesh.peers, deps.streams)) deps.logger.info(c)
  const exporter = await startExporter({ ...deps, cluster: mesh.cluster, node: mesh.node })
  const receivers = new Map<string, TrackedConsumer>()
  const receipts = new Map<string, PeerReceipts>(mesh.peers.map((p) => [p.node, { admitted: 0, refused: {}, resets: 0 }]))
  const onReceived = (r: Received) => {
    const peer = receipts.get(r.peer)
    if (!peer) return
    if (r.type === 'admitted') {
      peer.admitted++
      peer.lastAdmittedAt = Date.now()
    } else peer.refused[r.reason] = (peer.refused[r.reason] ?? 0) + 1
  }
  try {
    for (const peer of mesh.peers) receivers.set(peer.node, await startReceiver({ ...deps, cluster: mesh.cluster, peer, trust, onReceived }))
  } catch (err) {
    await Promise.all([...receivers.values()].map((r) => r.close()))
    await exporter.close()
    throw err
  }
  const checkers = new Map(mesh.peers.map((p) => [p.node, { peer: p, check: outboxChecker(jsm, mesh.cluster, p), busy: false }]))
  let closing = false
  /** One check per peer at a time; a hello arriving meanwhile is skipped (the next one comes soon). */
  const peerHello = (hello: Hello) => {
    const c = checkers.get(hello.node)
    if (!c || c.peer.cluster !== hello.cluster || !hello.outboxes || c.busy || closing) return
    c.busy = true
    void (async () => {
      const result = await c.check(hello.outboxes ?? {})
      if (result.type === 'adopt') await recordEpochs(jsm, c.peer, result.metadata)
      if (result.type !== 'reset' || closing) return
      const stream = meshInboxStream(c.peer.node)
      // what the inbox holds came from the old outbox, which may be gone: the receiver finishes it first
      if (!(await drained(jsm, stream, RESET_DRAIN_MS))) {
        deps.logger.warn({ peer: c.peer.node, why: result.why }, `mesh inbox ${stream} must be recreated, but its receiver has not finished what it holds; trying again on the next hello`)
        return
      }
      await receivers.get(c.peer.node)?.close()
      if (closing) return
      await recreateInbox(jsm, mesh.cluster, mesh.node, c.peer, result, deps.streams ?? {})
      const receiver = await startReceiver({ ...deps, cluster: mesh.cluster, peer: c.peer, trust, onReceived })
      receivers.set(c.peer.node, receiver)
      if (closing) await receiver.close()
      const r = receipts.get(c.peer.node)
      if (r) r.resets++
      meshMetrics.inboxResets.inc({ peer: c.peer.node })
      deps.logger.warn({ peer: c.peer.node, why: result.why, resumeAt: result.resumeAt }, `mesh inbox ${stream} recreated: ${c.peer.node} ${result.why}; its new outbox is sourced from the start`)
    })()
      .catch((err: unknown) => deps.logger.error({ peer: c.peer.node, err: describeError(err) }, `mesh: checking the outboxes of ${c.peer.node} failed`))
      .finally(() => {
        c.busy = false
      })
  }
  return {
    exporter,
    receivers,
    receipts: () => receipts,
    peerHello,
    async close() {
      closing = true
      await Promise.all([...receivers.values()].map((r) => r.close()))
      await exporter.close()
    },
  }
}

/** How long a reset waits for the receiver to finish what the inbox holds. */
const RESET_DRAIN_MS = 10_000

/** Whether the receiver has settled everything its inbox holds, within `ms`. */
async function drained(jsm: JetStreamManager, stream: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    const c = await jsm.consumers.info(stream, MESH_RECEIVER)
    if (c.num_pending === 0 && c.num_ack_pending === 0) return true
    if (Date.now() >= until) return false
    await new Promise((r) => setTimeout(r, 200))
  }
}
