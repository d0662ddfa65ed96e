import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { Publisher } from '../jetstream/publisher.ts'
import type { Logger } from '../observability/logger.ts'
import type { CartridgeHost } from './cartridge-host.ts'
import { startCartridgeReceiver } from './cartridges.ts'
import type { MeshConfig } from './config.ts'
import { startDataPath, type DataPath } from './data-path.ts'
import { guardOutboxes } from './outbox-guard.ts'
import type { InboxLimits } from './inbox.ts'
import { watchLink } from './link.ts'
import { readOutboxMarks } from './outbox.ts'
import { PRESENCE_INTERVAL_MS, startPresence, type Hello } from './presence.ts'
import { readMeshStatus, type MeshStatus } from './status.ts'

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
  /** the node's plugin paths for received cartridges (throws until wired); without it no cartridge is received */
  readonly cartridgeHost?: () => CartridgeHost
  /** the node's events stream settings (byte limit, age): its inboxes take the same */
  readonly streams?: InboxLimits
}

/** A node's part of the mesh, started after its streams and before its pipelines. */
export interface MeshRuntime {
  readonly config: MeshConfig
  /** outboxes, inboxes, the exporter and the receivers (src/mesh/data-path.ts) */
  readonly data: DataPath
  /** peers, link, inboxes and traffic as `omni mesh status` shows them */
  status(): Promise<MeshStatus>
  close(): Promise<void>
}

/**
 * Starts this node's part of the mesh. Each piece lives in its own file: outboxes and the
 * exporter, inboxes and the receiver, presence; this function only orders their start and stop.
 */
export async function startMesh(deps: MeshDeps): Promise<MeshRuntime> {
  const stack = new AsyncDisposableStack()
  try {
    // link and presence first: a second process under this node's name is refused before it creates anything
    const interval = deps.mesh.presenceIntervalMs ?? PRESENCE_INTERVAL_MS
    const link = watchLink(deps.mesh, deps.monitorUrl, interval, deps.logger)
    stack.defer(async () => link.close())
    // the name check listens once the hub link is up; a node started offline does not wait for it
    const linkWait = deps.mesh.startOffline ? 0 : LINK_WAIT_MS
    // hellos carry the outboxes' epochs; the data path, started next, checks peers' against its inboxes
    let onPeerHello: ((h: Hello) => void) | undefined
    const presence = await startPresence({
      mesh: deps.mesh,
      nc: deps.nc,
      logger: deps.logger,
      intervalMs: interval,
      linkUp: () => link.waitUp(linkWait),
      linkDrops: () => link.drops(),
      outboxMarks: () => readOutboxMarks(deps.jsm),
      onPeerHello: (h) => onPeerHello?.(h),
    })
    stack.defer(() => presence.close())
    const data = await startDataPath(deps)
    onPeerHello = (h) => data.peerHello(h)
    stack.defer(() => data.close())
    const guard = guardOutboxes(deps.jsm, deps.logger)
    stack.defer(async () => guard.close())
    if (deps.cartridgeHost) stack.use(await startCartridgeReceiver({ ...deps, cartridgeHost: deps.cartridgeHost }))
    return {
      config: deps.mesh,
      data,
      status: () => readMeshStatus({ config: deps.mesh, presence, link, jsm: deps.jsm }),
      close: () => stack.disposeAsync(),
    }
  } catch (err) {
    await stack.disposeAsync()
    throw err
  }
}

/** How long the start waits for the hub link before checking that no other process speaks as this node. */
const LINK_WAIT_MS = 10_000
