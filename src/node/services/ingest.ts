import type { EventCatalog } from '../../catalog/catalog.ts'
import type { TenantScope } from '../../envelope/tenants.ts'
import { coalescePublishes } from '../../jetstream/coalesce.ts'
import type { AckPublisher } from '../../jetstream/publisher-types.ts'
import { prepareEvent, prepareNodeEvent, type EventInput, type PrepareOptions } from '../../ingest/prepare.ts'
import { NODE_ORIGIN } from '../../wire/mod.ts'
import { prepareAll, publishPrepared, type IngestResult, type Locate } from '../../ingest/publish.ts'
import { requireTenants, tenantDefaults } from '../../ingest/tenants.ts'
import { receiveWebhook, type WebhookAnswer, type WebhookRequest } from '../../ingest/webhook.ts'
import type { WebhookRegistry } from '../../webhooks/mod.ts'

export type { IngestResult, Locate } from '../../ingest/publish.ts'
export type { WebhookAnswer, WebhookRequest } from '../../ingest/webhook.ts'

/** Every way an event enters: HTTP CloudEvents, webhook deliveries and `omni publish`, through one flow. */
export interface IngestService {
  /**
   * Checks every input against the envelope and the catalog, then publishes all of them, or
   * none when one is refused; resolves once each is durable in JetStream. With `tenants` (the
   * caller's), an event naming none gets the caller's only tenant, and one naming a tenant
   * outside them refuses the whole request (OMNI_ERR_TENANT_FORBIDDEN).
   */
  events(inputs: readonly unknown[], opts?: { readonly locate?: Locate; readonly defaults?: PrepareOptions; readonly tenants?: TenantScope }): Promise<IngestResult[]>
  /** One event on its own (`omni publish`): refused with the envelope's or the catalog's own error. */
  event(input: EventInput, defaults?: PrepareOptions): Promise<IngestResult>
  /**
   * The node's own event (its cartridge service): the only way to a type the catalog reserves,
   * published under the node's ingest origin. No route or command hands a client's input here.
   */
  nodeEvent(input: EventInput): Promise<IngestResult>
  /** Authenticates, archives raw, normalizes and publishes one webhook delivery. */
  webhook(request: WebhookRequest): Promise<WebhookAnswer>
  /** the webhook sources the manifests declare now */
  webhooks(): WebhookRegistry
}

export interface IngestDeps {
  readonly publisher: AckPublisher
  readonly catalog: () => EventCatalog
  readonly webhooks: () => WebhookRegistry
}

export function createIngestService(deps: IngestDeps): IngestService {
  // the publishes of one event-loop turn share a socket write: many concurrent requests, few writes
  const publisher = coalescePublishes(deps.publisher)
  const flow = { publisher, catalog: deps.catalog, webhooks: deps.webhooks }
  return {
    events: async (inputs, opts = {}) => {
      const prepared = prepareAll(deps.catalog(), inputs, opts.locate, { ...opts.defaults, ...tenantDefaults(opts.tenants) })
      requireTenants(prepared, opts.tenants, opts.locate)
      return publishPrepared(publisher, prepared)
    },
    event: async (input, defaults) => (await publishPrepared(publisher, [prepareEvent(deps.catalog(), input, defaults)]))[0] as IngestResult,
    nodeEvent: async (input) => (await publishPrepared(publisher, [prepareNodeEvent(deps.catalog(), input)], NODE_ORIGIN))[0] as IngestResult,
    webhook: (request) => receiveWebhook(flow, request),
    webhooks: deps.webhooks,
  }
}
