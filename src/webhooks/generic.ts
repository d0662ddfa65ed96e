import { readPath } from '../catalog/catalog.ts'
import { omniError } from '../errors/mod.ts'
import { providerMeta, unknownEvent } from './json.ts'
import type { AdaptedEvent, WebhookAdapter, WebhookDelivery } from './types.ts'

/** A catalog field's source: a dotted path in the item (`$.` reads from the whole body) or a constant. */
export type FieldSource = string | { readonly const: unknown }

export interface GenericEventMapping {
  readonly type: string
  readonly data: Readonly<Record<string, FieldSource>>
  readonly time?: string
  readonly actor?: string
  readonly conversation?: string
}

/** The `mapping:` of a generic webhook source. */
export interface GenericMapping {
  /** path of the provider's own event type */
  readonly type: string
  /** path of an array whose elements are one event each; absent: the body is one event */
  readonly items?: string
  /** provider type → catalog event */
  readonly events: Readonly<Record<string, GenericEventMapping>>
}

/** An adapter for any JSON provider, configured by a YAML mapping instead of code. */
export function createGenericAdapter(mapping: GenericMapping): WebhookAdapter {
  return {
    name: 'generic',
    normalize(delivery: WebhookDelivery): AdaptedEvent[] {
      const body = delivery.body
      if (typeof body !== 'object' || body === null) throw omniError('OMNI_ERR_WEBHOOK_INVALID', 'the body must be a JSON object or array', { problems: [{ where: '$', message: 'must be an object or an array' }], permanent: true })
      let items: unknown[] = [body]
      if (mapping.items !== undefined) {
        const list = readPath(body, mapping.items)
        if (!Array.isArray(list)) throw omniError('OMNI_ERR_WEBHOOK_INVALID', `the body has no array at ${mapping.items}`, { problems: [{ where: `$.${mapping.items}`, message: 'must be an array' }], permanent: true })
        items = list
        if (delivery.maxEvents !== undefined && list.length > delivery.maxEvents) {
          throw omniError('OMNI_ERR_BODY_TOO_LARGE', `the delivery holds ${list.length} events; at most ${delivery.maxEvents} fit in one request, so send them in several (the list at $.${mapping.items})`, { permanent: true })
        }
      }
      return items.map((item, i) => {
        const read = (path: string) => (path.startsWith('$.') ? readPath(body, path.slice(2)) : readPath(item, path))
        const at = mapping.items === undefined ? '$' : `$.${mapping.items}[${i}]`
        const providerType = read(mapping.type)
        if (typeof providerType !== 'string' || providerType === '') {
          const where = mapping.type.startsWith('$.') ? mapping.type : `${at}.${mapping.type}`
          throw omniError('OMNI_ERR_WEBHOOK_INVALID', `no event type at ${mapping.type}`, { problems: [{ where, message: 'must be a non-empty string' }], permanent: true })
        }
        const m = mapping.events[providerType]
        if (!m) return unknownEvent(providerType, item)
        const data: Record<string, unknown> = providerMeta(providerType)
        for (const [field, src] of Object.entries(m.data)) {
          const value = typeof src === 'string' ? read(src) : src.const
          if (value !== undefined) data[field] = value
        }
        const text = (path: string | undefined) => {
          const v = path === undefined ? undefined : read(path)
          return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined
        }
        const time = toUtc(m.time === undefined ? undefined : read(m.time))
        const actor = text(m.actor)
        const conversation = text(m.conversation)
        return { type: m.type, data, ...(time ? { time } : {}), ...(actor ? { actor } : {}), ...(conversation ? { conversation } : {}) }
      })
    },
  }
}

/**
 * RFC 3339 in any offset, or epoch seconds / milliseconds, as UTC with Z; undefined if
 * unreadable. A date-time without an offset (Discord's webhook events send one) is read as UTC,
 * never in the server's own time zone.
 */
export function toUtc(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? new Date(v < 1e12 ? v * 1000 : v).toISOString() : undefined
  if (typeof v !== 'string' || v === '') return undefined
  if (/^\d+$/.test(v)) return toUtc(Number(v))
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v) ? `${v}Z` : v
  const ms = Date.parse(zoned)
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString()
}
