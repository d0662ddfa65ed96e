import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { Publisher } from '../jetstream/publisher.ts'
import type { Logger } from '../observability/logger.ts'
import type { MeshConfig } from './config.ts'
import { startDataPath, type DataPath } from './data-path.ts'

/** What the mesh runtime of a node is given by the composition root. */
export interface MeshDeps {
  readonly mesh: MeshConfig
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: Publisher
  readonly catalog: () => EventCatalog
  readonly logger: Logger
  /** the node's own nats-server's monitoring endpoint, when the node runs its server */
  readonly monitorUrl: string | undefined
}

/** A node's part of the mesh, started after its streams and before its pipelines. */
export interface MeshRuntime {
  readonly config: MeshConfig
  /** outboxes, inboxes, the exporter and the receivers (src/mesh/data-path.ts) */
  readonly data: DataPath
  close(): Promise<void>
}

/**
 * Starts this node's part of the mesh. Each piece lives in its own file: outboxes and the
 * exporter, inboxes and the receiver, presence; this function only orders their start and stop.
 */
export async function startMesh(deps: MeshDeps): Promise<MeshRuntime> {
  const stack = new AsyncDisposableStack()
  try {
    const data = await startDataPath(deps)
    stack.defer(() => data.close())
    return {
      config: deps.mesh,
      data,
      close: () => stack.disposeAsync(),
    }
  } catch (err) {
    await stack.disposeAsync()
    throw err
  }
}
