import { deriveIdempotencyKey, type EventCatalog } from '../catalog/catalog.ts'
import { stableHash } from '../envelope/derive.ts'
import { PROVIDER_META_KEY } from '../envelope/schema.ts'
import type { Problem } from '../errors/mod.ts'
import { prepareEvent, type EventInput, type PreparedEvent } from './prepare.ts'
import { UNKNOWN_EVENT_TYPE, type AdaptedEvent } from '../webhooks/types.ts'

export interface DeliveryContext {
  /** the webhook source's name (the `:provider` segment) */
  readonly provider: string
  readonly instance: string
  readonly tenant: string
  /** the raw archive's reference, carried by every event of the delivery */
  readonly dataref: string
  /** the provider's own event name, for the fallback below */
  readonly providerType: (e: AdaptedEvent) => string
}

export interface PreparedDelivery {
  readonly prepared: PreparedEvent[]
  /** adapted events the catalog refused, kept as provider.unknown with the problems */
  readonly fallbacks: { readonly type: string; readonly problems: readonly Problem[] }[]
}

/**
 * Completes an adapter's events with routing, the raw payload's reference and a stable id
 * (from the idempotency key, so a provider retry carries the same id), and validates them. An
 * event the catalog refuses is not dropped: it is ingested as provider.unknown with the
 * provider's type and the problems, and its payload stays in the raw archive.
 */
export function prepareDelivery(catalog: EventCatalog, events: readonly AdaptedEvent[], ctx: DeliveryContext): PreparedDelivery {
  const prepared: PreparedEvent[] = []
  const fallbacks: PreparedDelivery['fallbacks'][number][] = []
  for (const e of events) {
    const input = complete(catalog, e, ctx)
    try {
      prepared.push(prepareEvent(catalog, input))
    } catch (err) {
      const problems = (err as { problems?: Problem[] }).problems ?? [{ where: '$', message: err instanceof Error ? err.message : String(err) }]
      fallbacks.push({ type: e.type, problems })
      const providerType = ctx.providerType(e)
      const unknown: AdaptedEvent = {
        type: UNKNOWN_EVENT_TYPE,
        data: {
          providerType,
          // from the adapted event alone, not the archive entry: a provider retry in another
          // envelope (a new date_time) archives anew but must yield the same event
          digest: stableHash(e.type, JSON.stringify(e.data)),
          payload: e.data,
          [PROVIDER_META_KEY]: { event: providerType, refusedAs: e.type, problems: problems.map((p) => `${p.where}: ${p.message}`) },
        },
      }
      prepared.push(prepareEvent(catalog, complete(catalog, unknown, ctx)))
    }
  }
  return { prepared, fallbacks }
}

function complete(catalog: EventCatalog, e: AdaptedEvent, ctx: DeliveryContext): EventInput {
  const input: EventInput = {
    type: e.type,
    data: e.data,
    source: `omni://webhooks/${ctx.provider}/${ctx.instance}`,
    tenant: ctx.tenant,
    provider: ctx.provider,
    instance: ctx.instance,
    dataref: ctx.dataref,
    ...(e.time ? { time: e.time } : {}),
    ...(e.actor ? { actor: e.actor } : {}),
    ...(e.conversation ? { conversation: e.conversation } : {}),
  }
  const entry = catalog.get(e.type)
  const derived = entry ? deriveIdempotencyKey(entry, input) : undefined
  if (derived && 'key' in derived) return { ...input, id: stableHash('webhook', derived.key) }
  return input
}
