import type { EventCatalog } from '../catalog/catalog.ts'
import { PROVIDER_META_KEY } from '../envelope/schema.ts'
import { tenantAllowed, type TenantScope } from '../envelope/tenants.ts'
import { isOmniError, omniError, type Problem } from '../errors/mod.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { verifyWebhook, type AdaptedEvent, type WebhookRegistry, type WebhookSource } from '../webhooks/mod.ts'
import { prepareDelivery } from './delivery.ts'
import { MAX_EVENTS_PER_REQUEST, publishPrepared, requireEventCount, type IngestResult } from './publish.ts'
import { archiveRaw } from './raw-archive.ts'
import { readWebhookBody, type WebhookBody } from './webhook-body.ts'
import { webhookOrigin } from '../wire/mod.ts'

/** One delivery as it reached the node, before anything was checked. */
export interface WebhookRequest {
  /** the webhook source's name (the `:provider` segment) */
  readonly provider: string
  readonly instance: string
  /** single-valued headers, lower-case names */
  readonly headers: Readonly<Record<string, string>>
  readonly contentType: string | undefined
  /** the exact bytes received: signatures cover them */
  readonly body: Buffer
  /**
   * The caller's own credential, for sources that declare no auth of their own: `granted` when
   * it carries the ingest right, `missing` with none, `refused` with one that lacks the right.
   */
  readonly token: 'granted' | 'missing' | 'refused'
  /** the tenants a `granted` token may act for (undefined: every tenant) */
  readonly tenants?: TenantScope
  /**
   * Charges the caller's quota once it is authenticated: the body's bytes before the archive,
   * the adapted events before they are published; throws (OMNI_ERR_QUOTA_EXCEEDED) to refuse
   */
  readonly admit?: (cost: { readonly events: number; readonly bytes: number }) => void
}

/** What the delivery became: the adapter's own answer (a handshake), or what was stored. */
export type WebhookAnswer =
  | { readonly type: 'reply'; readonly status: number; readonly body: unknown }
  | {
      readonly type: 'stored'
      /** 202 when something new was stored, 200 for a pure retry */
      readonly status: 200 | 202
      readonly raw: { readonly dataref: string; readonly seq: number; readonly duplicate: boolean }
      readonly events: readonly IngestResult[]
      /** adapted events the catalog refused; each was ingested as provider.unknown instead */
      readonly refused: readonly { readonly type: string; readonly problems: readonly Problem[] }[]
    }

export interface WebhookDeps {
  readonly publisher: AckPublisher
  readonly catalog: () => EventCatalog
  readonly webhooks: () => WebhookRegistry
}

/**
 * Authenticate, archive the raw body in JetStream, then normalize through the source's adapter
 * and publish with idempotency keys. The order is what keeps every delivery: a body that cannot
 * be normalized is still in the archive, and the error names the entry.
 */
export async function receiveWebhook(deps: WebhookDeps, request: WebhookRequest): Promise<WebhookAnswer> {
  const { provider, instance, headers } = request
  const source = deps.webhooks().find(provider, instance)
  const unknown = () => omniError('OMNI_ERR_WEBHOOK_UNKNOWN_SOURCE', `no webhook source "${provider}" accepts instance "${instance}"; declare one with kind: WebhookSource`)
  if (!source) throw unknown()
  // the body is parsed only once the caller is known: a signature is checked on the raw bytes,
  // so an unsigned body, however hostile, costs one HMAC and never reaches the JSON parser;
  // the source's manifest fixes the tenant, the delivery has no say in it
  let read: WebhookBody | undefined
  const parse = (): WebhookBody => (read ??= readWebhookBody(request.body, request.contentType))
  if (source.auth) verifyWebhook(source.auth, { headers, rawBody: request.body, parseBody: () => parse().value })
  else if (request.token !== 'granted') {
    throw omniError(request.token === 'refused' ? 'OMNI_ERR_FORBIDDEN' : 'OMNI_ERR_UNAUTHORIZED', `webhook source "${provider}" declares no auth, so deliveries need a bearer token with the ingest scope`)
  } else if (!tenantAllowed(request.tenants, source.tenant)) {
    // a source of a tenant the token may not act for is answered as one that does not exist
    throw unknown()
  }
  request.admit?.({ events: 0, bytes: request.body.length })
  const body = parse()
  const raw = await archiveRaw(deps.publisher, {
    provider,
    instance,
    tenant: source.tenant,
    contentType: request.contentType ?? '',
    headers,
    body: request.body,
    ...archiveSecrets(source, body.value),
  })
  // the client learns the body is kept: a fixed adapter can replay it from the archive
  const archived = `it is archived as ${raw.dataref}`
  if (body.refused) throw omniError('OMNI_ERR_WEBHOOK_INVALID', `${body.refused.reason}; ${archived}`, { problems: body.refused.problems, permanent: true })
  const delivery = { provider, instance, headers, body: body.value, receivedAt: Date.now(), maxEvents: MAX_EVENTS_PER_REQUEST }
  const handshake = source.adapter.reply?.(delivery)
  if (handshake) return { type: 'reply', status: handshake.status, body: handshake.body }
  let events: AdaptedEvent[]
  try {
    events = source.adapter.normalize(delivery)
  } catch (err) {
    if (!isOmniError(err) || (err.code !== 'OMNI_ERR_WEBHOOK_INVALID' && err.code !== 'OMNI_ERR_BODY_TOO_LARGE')) throw err
    throw omniError(err.code, `${err.message}; ${archived}`, { problems: [...err.problems], permanent: true, cause: err })
  }
  requireEventCount(events.length, `the delivery (${archived})`)
  request.admit?.({ events: events.length, bytes: 0 })
  const { prepared, fallbacks } = prepareDelivery(deps.catalog(), events, { provider, instance, tenant: source.tenant, dataref: raw.dataref, providerType })
  const results = await publishPrepared(deps.publisher, prepared, webhookOrigin(provider, instance))
  const ack = source.adapter.acknowledge?.(delivery)
  if (ack) return { type: 'reply', status: ack.status, body: ack.body }
  const fresh = results.some((r) => !r.duplicate) || !raw.duplicate
  return { type: 'stored', status: fresh ? 202 : 200, raw: { dataref: raw.dataref, seq: raw.seq, duplicate: raw.duplicate }, events: results, refused: fallbacks }
}

function providerType(e: AdaptedEvent): string {
  const meta = e.data[PROVIDER_META_KEY] as { event?: unknown } | undefined
  return typeof meta?.event === 'string' ? meta.event : e.type
}

/** What the archive must mask for this source: its credential header and the body's credential fields. */
function archiveSecrets(source: WebhookSource, body: unknown): { secretHeaders: string[]; secretValues: string[] } {
  const auth = source.auth
  const secretHeaders = auth && 'header' in auth ? [auth.header] : []
  const secretValues = auth && 'secret' in auth ? [auth.secret] : []
  if (typeof body === 'object' && body !== null) {
    for (const field of source.adapter.secretFields ?? []) {
      const v = (body as Record<string, unknown>)[field]
      if (typeof v === 'string') secretValues.push(v)
    }
  }
  return { secretHeaders, secretValues }
}
