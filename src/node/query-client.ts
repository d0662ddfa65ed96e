import { createCatalog } from '../catalog/catalog.ts'
import { openClickHouse, type ClickHouse } from '../clickhouse/client.ts'
import type { ClickHouseConfig } from '../clickhouse/config.ts'
import type { Problem } from '../errors/mod.ts'
import { loadManifests } from '../manifests/load.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import { createCatalogService, type CatalogService } from './services/catalog.ts'
import { createEventQueryService, type EventQueryService } from './services/events.ts'

/**
 * The `events` and `catalog` queries for a process beside a node (the CLI), over a ClickHouse it
 * opens itself. It needs no NATS: following the stream is the node client's.
 */
export interface QueryClient extends AsyncDisposable {
  readonly events: Omit<EventQueryService, 'follow'>
  /** the catalog and pipelines of the manifests given (none without them); no plugins */
  readonly catalog: CatalogService
  /** what the manifests held that did not load: the rest still counts */
  readonly manifests: { readonly problems: readonly Problem[]; readonly pipelines: number } | undefined
  close(): Promise<void>
}

export interface QueryClientOptions {
  /** without it the queries answer 503 and only the declared catalog is offered */
  readonly clickhouse?: ClickHouseConfig
  /**
   * where the catalog and pipelines are read from. A folder that cannot be read fails the open;
   * a problem in a single file does not (see `manifests.problems`)
   */
  readonly manifests?: string
  readonly lookup: CartridgeLookup
}

/** Loads the manifests, then opens ClickHouse (when configured): a bad folder fails before any connection. */
export async function openQueryClient(opts: QueryClientOptions): Promise<QueryClient> {
  const loaded = opts.manifests === undefined ? undefined : await loadManifests(opts.manifests, opts.lookup)
  const ch: ClickHouse | undefined = opts.clickhouse ? await openClickHouse(opts.clickhouse) : undefined
  const catalog = loaded?.catalog ?? createCatalog([])
  let closing: Promise<void> | undefined
  const close = () => (closing ??= ch ? ch.close() : Promise.resolve())
  return {
    events: createEventQueryService({ clickhouse: () => ch }),
    catalog: createCatalogService({ catalog: () => catalog, pipelines: () => loaded?.pipelines ?? [], plugins: () => [], clickhouse: () => ch }),
    manifests: loaded ? { problems: loaded.problems, pipelines: loaded.pipelines.length } : undefined,
    close,
    [Symbol.asyncDispose]: close,
  }
}
