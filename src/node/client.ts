import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../jetstream/connect.ts'
import { createPublisher } from '../jetstream/publisher.ts'
import { ensureStreams } from '../jetstream/topology.ts'
import { loadManifestsOrThrow } from '../manifests/load.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import { createWebhookRegistry } from '../webhooks/mod.ts'
import { createDeadLetterService, recordedRunningSets, type DeadLetterService } from './services/dead-letters.ts'
import { createIngestService, type IngestService } from './services/ingest.ts'

/** The services a process beside a node uses (the CLI): the same flows, over its own connection. */
export interface NodeClient extends AsyncDisposable {
  readonly ingest: IngestService
  /** redrive sees the pipelines the node recorded as running, so it agrees with the node's API */
  readonly deadLetters: DeadLetterService
  close(): Promise<void>
}

export interface NodeClientOptions {
  readonly natsUrl: string
  /** where the event catalog is read from; without it, ingest refuses every event */
  readonly manifests?: string
  readonly lookup: CartridgeLookup
}

/** Connects to a node's NATS for one command; creates missing streams, never reconfigures them. */
export async function openNodeClient(opts: NodeClientOptions): Promise<NodeClient> {
  // the manifests are checked before any connection: a typo fails fast and changes nothing
  const loaded = opts.manifests === undefined ? undefined : await loadManifestsOrThrow(opts.manifests, opts.lookup)
  const nc = await connectNats(opts.natsUrl, { name: 'omni-cli' })
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
  return {
    ingest: createIngestService({
      publisher,
      catalog: () => {
        if (!loaded) throw new Error('no manifests were given: the catalog is unknown')
        return loaded.catalog
      },
      webhooks: () => webhooks,
    }),
    deadLetters: createDeadLetterService({ js, jsm, publisher, running: recordedRunningSets(js, jsm) }),
    close,
    [Symbol.asyncDispose]: close,
  }
}
