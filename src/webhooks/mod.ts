// Webhook sources and their provider adapters: the entry other folders import from.
import type { WebhookSource } from './source.ts'

export { compileWebhookSource, WebhookSourceSchema, ADAPTERS, type WebhookSource } from './source.ts'
export { MAX_SIGNATURE_AGE_S, verifyWebhook, type CompiledWebhookAuth } from './auth.ts'
export { UNKNOWN_EVENT_TYPE, type AdaptedEvent, type WebhookAdapter, type WebhookDelivery } from './types.ts'

export interface WebhookRegistry {
  /** the source for a delivery to /v1/webhooks/:provider/:instance, if one accepts it */
  find(provider: string, instance: string): WebhookSource | undefined
  list(): readonly WebhookSource[]
}

export function createWebhookRegistry(sources: readonly WebhookSource[]): WebhookRegistry {
  const byName = new Map(sources.map((s) => [s.name, s]))
  return {
    find(provider, instance) {
      const s = byName.get(provider)
      return s && (s.instances === 'any' || s.instances.includes(instance)) ? s : undefined
    },
    list: () => sources,
  }
}
