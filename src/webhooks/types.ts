// The contract between the webhook route and the provider adapters. An adapter is a pure
// function of one delivery: it never publishes, archives or reads configuration itself, so it
// can be tested against fixtures alone.

/** One HTTP delivery from a provider, as the route received it. */
export interface WebhookDelivery {
  /** the `:provider` path segment: the name of the webhook source */
  readonly provider: string
  /** the `:instance` path segment (a phone, a bot, a store) */
  readonly instance: string
  /** request headers, names in lower case */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** the body parsed as JSON */
  readonly body: unknown
  /** when the route received it (ms since the epoch) */
  readonly receivedAt: number
  /**
   * the most events the delivery may become (one request's cap): an adapter that splits a body
   * into items refuses more before it maps any, so a large list costs no work
   */
  readonly maxEvents?: number
}

/**
 * One normalized event, before the route adds tenant, instance, provider, the raw payload's
 * `dataref`, and fills id and idempotency key from the catalog. `type` is a catalog event type;
 * the provider's own event name and ids go in `data._provider` (PROVIDER_META_KEY), never in
 * provider-neutral fields.
 */
export interface AdaptedEvent {
  readonly type: string
  readonly data: Record<string, unknown>
  /** RFC 3339 UTC, when the provider says the event happened */
  readonly time?: string
  /** who caused it (a sender id) */
  readonly actor?: string
  /** the conversation, chat, channel or group it belongs to */
  readonly conversation?: string
}

/** What the provider must get back at once instead of the usual 202 (a handshake such as Discord's PING). */
export interface AdapterReply {
  readonly status: number
  readonly body: unknown
}

export interface WebhookAdapter {
  /** the adapter's id as webhook sources name it: evolution, discord, generic */
  readonly name: string
  /**
   * Turns one delivery into events. An event type the adapter does not know becomes one
   * `provider.unknown` event carrying the provider's type, never nothing (only a handshake that
   * reply() answers, such as a PING, is no event). A body it cannot read
   * at all throws OMNI_ERR_WEBHOOK_INVALID with the JSON path of each problem.
   */
  normalize(delivery: WebhookDelivery): AdaptedEvent[]
  /** a reply that replaces the normal one, for handshakes; undefined for ordinary deliveries */
  reply?(delivery: WebhookDelivery): AdapterReply | undefined
  /**
   * The answer once the delivery's events are stored, when the provider expects one of its own
   * instead of the usual 202 (a Discord interaction wants an interaction response)
   */
  acknowledge?(delivery: WebhookDelivery): AdapterReply | undefined
  /** top-level body fields the provider puts a credential in: masked in the raw archive */
  readonly secretFields?: readonly string[]
}

/** The catalog type every adapter uses for provider events it does not know. */
export const UNKNOWN_EVENT_TYPE = 'provider.unknown'
