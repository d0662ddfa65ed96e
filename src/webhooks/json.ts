// Reading provider JSON, shared by the adapters: narrow unknown values, and build the pieces
// every adapted event has (the provider's metadata, a content digest, the provider.unknown event).
import { stableHash } from '../envelope/derive.ts'
import { PROVIDER_META_KEY } from '../envelope/schema.ts'
import { UNKNOWN_EVENT_TYPE, type AdaptedEvent } from './types.ts'

export type Obj = Record<string, unknown>

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A non-empty string, or undefined. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/** A value that may be one item or a list of them, as a list. */
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v])

/** A stable digest of a JSON value: what an event without an id of its own is keyed on. */
export const digestOf = (v: unknown): string => stableHash(JSON.stringify(v ?? null))

/** `data._provider`: the provider's own event name and whatever else only it understands. */
export const providerMeta = (event: string, extra: Obj = {}): Obj => ({ [PROVIDER_META_KEY]: { event, ...extra } })

/** An event of a type the adapter does not know: kept with the provider's type, never dropped. */
export function unknownEvent(providerType: string, payload: unknown, digestSource: unknown = payload): AdaptedEvent {
  return { type: UNKNOWN_EVENT_TYPE, data: { providerType, digest: digestOf(digestSource), payload: payload ?? null, ...providerMeta(providerType) } }
}
