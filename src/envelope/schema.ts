import Type, { type Static } from 'typebox'
import { MESH_NAME_PATTERN } from '../wire/mod.ts'

/** Where an event may travel: its own node, its cluster, or every peer of the mesh. */
export const VISIBILITIES = ['local', 'cluster', 'public'] as const
export type Visibility = (typeof VISIBILITIES)[number]

/** true when `v` travels further than `cap` allows (an unknown value counts as not wider: the schema reports it). */
export function widerThan(v: unknown, cap: Visibility): boolean {
  return VISIBILITIES.indexOf(v as Visibility) > VISIBILITIES.indexOf(cap)
}

// CloudEvents extension attribute names must be lower-case letters and digits only.
const Name = Type.String({ minLength: 1, maxLength: 256 })
const UtcTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$',
  description: 'RFC 3339 timestamp in UTC (ends with Z)',
})

/**
 * The Omni envelope: CloudEvents 1.0 plus extension attributes for routing (tenant, instance,
 * provider, visibility), idempotency (idempotencykey) and context (correlation and causation
 * ids, actor, conversation, traceparent). Provider-neutral names only.
 */
export const EnvelopeSchema = Type.Object(
  {
    specversion: Type.Literal('1.0'),
    id: Name,
    source: Name,
    type: Type.String({ pattern: '^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)+$', maxLength: 128 }),
    time: UtcTime,
    datacontenttype: Type.Optional(Type.Literal('application/json')),
    dataschema: Type.Optional(Name),
    subject: Type.Optional(Name),
    data: Type.Record(Type.String(), Type.Unknown()),
    // routing
    tenant: Name,
    instance: Type.Optional(Name),
    provider: Type.Optional(Name),
    visibility: Type.Union([Type.Literal('local'), Type.Literal('cluster'), Type.Literal('public')]),
    // idempotency
    idempotencykey: Type.String({ minLength: 1, maxLength: 512 }),
    // context
    correlationid: Type.Optional(Name),
    causationid: Type.Optional(Name),
    actor: Type.Optional(Name),
    conversation: Type.Optional(Name),
    traceparent: Type.Optional(Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' })),
    // payload: where the raw provider payload is archived, when it is
    dataref: Type.Optional(Name),
    // mesh: the node an event was received from, set by the receiving node only (src/mesh)
    origin: Type.Optional(Type.String({ pattern: MESH_NAME_PATTERN, description: 'the mesh node this event was received from; set on receipt, never by a producer' })),
  },
  { additionalProperties: false },
)

export type Envelope = Static<typeof EnvelopeSchema>

/**
 * Where adapters keep the provider's own metadata inside `data` (its event name, raw ids): every
 * catalog schema admits it, and the sink stores it in its own column, so the normalized payload
 * stays provider-neutral.
 */
export const PROVIDER_META_KEY = '_provider'
