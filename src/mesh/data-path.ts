import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import type { TrackedConsumer } from '../jetstream/tracked-consumer.ts'
import type { Logger } from '../observability/logger.ts'
import type { MeshConfig } from './config.ts'
import { startExporter } from './exporter.ts'
import { ensureInboxes } from './inbox.ts'
import { ensureOutboxes } from './outbox.ts'
import type { RefusalReason } from './admission.ts'
import { meshTrustStage, startReceiver, type Received } from './receiver.ts'

export interface DataPathDeps {
  readonly mesh: MeshConfig
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly catalog: () => EventCatalog
  readonly logger: Logger
}

/** What one peer's receiver has done since start: for `omni mesh status` and `GET /v1/mesh`. */
export interface PeerReceipts {
  admitted: number
  refused: Partial<Record<RefusalReason, number>>
  /** when the last event from this peer was admitted (ms since the epoch) */
  lastAdmittedAt?: number
}

/** The running data path of a node: its exporter and one receiver per peer. */
export interface DataPath {
  readonly exporter: TrackedConsumer
  readonly receivers: ReadonlyMap<string, TrackedConsumer>
  /** per peer, what its receiver admitted and refused since start */
  receipts(): ReadonlyMap<string, Readonly<PeerReceipts>>
  close(): Promise<void>
}

/**
 * Starts the mesh's data path: the outboxes and their exporter, then the inboxes and a receiver
 * per peer. Closing drains the receivers first, then the exporter.
 */
export async function startDataPath(deps: DataPathDeps): Promise<DataPath> {
  const { mesh, jsm } = deps
  const trust = meshTrustStage(mesh.trust)
  for (const w of await ensureOutboxes(jsm, mesh.cluster, mesh.node)) deps.logger.warn(w)
  for (const c of await ensureInboxes(jsm, mesh.cluster, mesh.node, mesh.peers)) deps.logger.info(c)
  const exporter = await startExporter({ ...deps, cluster: mesh.cluster, node: mesh.node })
  const receivers = new Map<string, TrackedConsumer>()
  const receipts = new Map<string, PeerReceipts>(mesh.peers.map((p) => [p.node, { admitted: 0, refused: {} }]))
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
  return {
    exporter,
    receivers,
    receipts: () => receipts,
    async close() {
      await Promise.all([...receivers.values()].map((r) => r.close()))
      await exporter.close()
    },
  }
}
