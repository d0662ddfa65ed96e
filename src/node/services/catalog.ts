import { cartridgeListing } from '../../cartridges/mod.ts'
import type { EventCatalog } from '../../catalog/catalog.ts'
import type { ClickHouse } from '../../clickhouse/client.ts'
import { observedCatalog, type ObservedCatalog } from '../../clickhouse/observed.ts'
import type { ObservedScope } from '../../clickhouse/query-schema.ts'
import type { CompiledPipeline } from '../../pipeline/compile.ts'
import { PLUGIN_PREFIX } from '../../pipeline/plugin-stage.ts'
import type { TenantScope } from '../../envelope/tenants.ts'
import type { PluginStatus } from '../plugin-host.ts'
import { requireClickHouse } from './events.ts'

/** A declared event type as clients see it. */
export interface DeclaredEventType {
  readonly type: string
  readonly version: number
  readonly subject: string
  readonly visibility: string
  readonly description: string | undefined
  readonly idempotency: readonly string[]
  readonly fanout: readonly string[]
}

/** The event catalog: what is declared, what each instance sent, and the stages a pipeline can use. */
export interface CatalogService {
  /** the catalog the node runs now */
  current(): EventCatalog
  declared(): DeclaredEventType[]
  /** declared vs observed per instance, mapped or unmapped (reads ClickHouse); observed only in `tenants` (undefined: all) */
  observed(scope: ObservedScope, tenants?: TenantScope): Promise<{ readonly declared: DeclaredEventType[] } & ObservedCatalog>
  /** the cartridges and installed plugins a stage can use */
  actions(): { readonly cartridges: ReturnType<typeof cartridgeListing>; readonly plugins: (PluginStatus & { readonly uses: string })[] }
}

export interface CatalogDeps {
  readonly catalog: () => EventCatalog
  readonly pipelines: () => readonly CompiledPipeline[]
  readonly plugins: () => readonly PluginStatus[]
  readonly clickhouse: () => ClickHouse | undefined
}

export function createCatalogService(deps: CatalogDeps): CatalogService {
  const declared = (): DeclaredEventType[] =>
    deps.catalog().entries.map((e) => ({
      type: e.type,
      version: e.version,
      subject: e.subject,
      visibility: e.visibility,
      description: e.description,
      idempotency: e.idempotency,
      fanout: e.fanout.map((t) => t.subject),
    }))
  return {
    current: deps.catalog,
    declared,
    async observed(scope, tenants) {
      const found = await observedCatalog(requireClickHouse(deps.clickhouse()), scope, deps.pipelines(), deps.catalog().entries, tenants)
      return { declared: declared(), ...found }
    },
    actions: () => ({ cartridges: cartridgeListing(), plugins: deps.plugins().map((p) => ({ uses: `${PLUGIN_PREFIX}${p.id}`, ...p })) }),
  }
}
