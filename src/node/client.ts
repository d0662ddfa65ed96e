import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream'
import { connectNats } from '../jetstream/connect.ts'
import type { NatsCredentials } from '../server/mod.ts'
import { createPublisher } from '../jetstream/publisher.ts'
import { ensureStreams } from '../jetstream/topology.ts'
import { loadManifestsOrThrow } from '../manifests/load.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import { createWebhookRegistry } from '../webhooks/mod.ts'
import type { PluginHostOptions } from './plugin-host.ts'
import { createDeadLetterService, recordedRunningSets, type DeadLetterService } from './services/dead-letters.ts'
import { createEventQueryService, type EventQueryService } from './services/events.ts'
import { createIngestService, type IngestService } from './services/ingest.ts'
import type { ReloadResult } from './services/pipeline-files.ts'
import { createPluginService, type PluginService } from './services/plugins.ts'
import { createCartridgeService, type CartridgeService } from './services/cartridges.ts'

/** The services a process beside a node uses (the CLI): the same flows, over its own connection. */
export interface NodeClient extends AsyncDisposable {
  readonly ingest: IngestService
  /** redrive sees the pipelines the node recorded as running, so it agrees with the node's API */
  readonly deadLetters: DeadLetterService
  /** stored events from a point on, from the node's stream (the queries need ClickHouse: `openQueryClient`) */
  readonly events: Pick<EventQueryService, 'follow'>
  /** the plugins folder and trust store of `plugins` with the cluster's buckets; changes do not reload the node */
  readonly plugins: PluginService
  /** publishing to the mesh and the pending queue; an approve installs here without reloading the node */
  readonly cartridges: CartridgeService
  close(): Promise<void>
}

export interface NodeClientOptions {
  readonly natsUrl: string
  /** the user and password the server requires (the platform's own server does) */
  readonly credentials?: NatsCredentials
  /** where the event catalog is read from; without it, ingest refuses every event */
  readonly manifests?: string
  readonly lookup: CartridgeLookup
  /** the plugin settings of this host; without them every plugin operation answers 503 */
  readonly plugins?: PluginHostOptions
}

/** Connects to a node's NATS for one command; creates missing streams, never reconfigures them. */
export async function openNodeClient(opts: NodeClientOptions): Promise<NodeClient> {
  // the manifests are checked before any connection: a typo fails fast and changes nothing
  const loaded = opts.manifests === undefined ? undefined : await loadManifestsOrThrow(opts.manifests, opts.lookup)
  const nc = await connectNats(opts.natsUrl, { name: 'omni-cli', ...(opts.credentials ? { credentials: opts.credentials } : {}) })
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm, { mode: 'create-missing' })
  const js = jetstream(nc)
  const publisher = createPublisher(nc)
  const webhooks = createWebhookRegistry(loaded?.webhooks ?? [])
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await publisher.close()
      await nc.drain().catch(() => undefined)
    })())
  const ingest = createIngestService({
    publisher,
    catalog: () => {
      if (!loaded) throw new Error('no manifests were given: the catalog is unknown')
      return loaded.catalog
    },
    webhooks: () => webhooks,
  })
  const plugins = clientPlugins(opts.plugins, js)
  return {
    ingest,
    deadLetters: createDeadLetterService({ js, jsm, publisher, running: recordedRunningSets(js, jsm) }),
    events: createEventQueryService({ js, clickhouse: () => undefined }),
    plugins,
    cartridges: createCartridgeService({ plugins, ingest, js }),
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * The plugin operations on this host's plugins folder and trust store alone, with no cluster
 * connection: listing without approvals and re-signing the revocation list. What needs the
 * cluster's buckets answers OMNI_ERR_UNAVAILABLE.
 */
export function localPlugins(settings: PluginHostOptions): PluginService {
  return clientPlugins(settings, undefined)
}

// a process beside the node cannot reload it; the node rescans its plugins at its next reload
const NO_RELOAD: ReloadResult = { type: 'rejected', problems: [{ where: 'node', message: 'this process does not reload a running node; it rescans the plugins at its next reload' }] }

function clientPlugins(settings: PluginHostOptions | undefined, js: JetStreamClient | undefined): PluginService {
  return createPluginService({ settings, js, status: () => [], reload: () => Promise.resolve(NO_RELOAD) })
}
