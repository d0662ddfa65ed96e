import type { ClickHouse } from '../../clickhouse/client.ts'
import { getEvent, queryEvents } from '../../clickhouse/query.ts'
import type { TenantScope } from '../../envelope/tenants.ts'
import { omniError } from '../../errors/mod.ts'
import type { JetStreamClient } from '@nats-io/jetstream'
import { followEvents, type LiveEvents, type LiveFilter } from './live-events.ts'

type Filter = Parameters<typeof queryEvents>[1]
type Page = Awaited<ReturnType<typeof queryEvents>>
type Detail = NonNullable<Awaited<ReturnType<typeof getEvent>>>

/**
 * The recorded events, as ClickHouse holds them. `tenants` limits every answer to the caller's
 * tenants (undefined: every tenant, the operator's view); an event of another tenant is not found.
 */
export interface EventQueryService {
  /** newest first, one page at a time */
  query(filter: Filter, tenants?: TenantScope): Promise<Page>
  /** one event under every subject it was recorded on, with its stage outcomes; OMNI_ERR_NOT_FOUND when none */
  get(id: string, scope?: { readonly tenant?: string; readonly tenants?: TenantScope }): Promise<Detail>
  /** stored events from a point on, as they are stored (JetStream, no ClickHouse needed) */
  follow(filter: LiveFilter): Promise<LiveEvents>
}

export interface EventQueryDeps {
  /** the stream `follow` reads; without it (a process that opened only ClickHouse) `follow` answers 503 */
  readonly js?: JetStreamClient
  /** undefined when the node runs without ClickHouse: every query then answers 503 */
  readonly clickhouse: () => ClickHouse | undefined
}

export function createEventQueryService({ js, clickhouse }: EventQueryDeps): EventQueryService {
  return {
    follow: async (filter) => {
      if (!js) throw omniError('OMNI_ERR_UNAVAILABLE', 'following events needs the NATS server that stores them; this process opened only ClickHouse')
      return followEvents(js, filter)
    },
    // async: a missing ClickHouse rejects like every other failure, never throws on the call
    query: async (filter, tenants) => queryEvents(requireClickHouse(clickhouse()), filter, tenants),
    async get(id, scope = {}) {
      const detail = await getEvent(requireClickHouse(clickhouse()), id, { ...(scope.tenant === undefined ? {} : { tenant: scope.tenant }), tenants: scope.tenants })
      if (!detail) throw omniError('OMNI_ERR_NOT_FOUND', `no event ${id} is recorded`)
      return detail
    },
  }
}

/** The ClickHouse the node records into, or a 503 that says how to get one. */
export function requireClickHouse(ch: ClickHouse | undefined): ClickHouse {
  if (!ch) throw omniError('OMNI_ERR_UNAVAILABLE', 'ClickHouse is off (omni up --no-clickhouse): nothing is recorded to query; start without --no-clickhouse')
  return ch
}
