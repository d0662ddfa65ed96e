import Type, { type Static } from 'typebox'
import { TargetTransformSchema } from '../pipeline/spec.ts'
import { SUBJECT_PATTERN } from '../wire/mod.ts'

export const FanoutTargetSchema = Type.Object(
  {
    subject: Type.String({ pattern: SUBJECT_PATTERN }),
    description: Type.Optional(Type.String()),
    transform: Type.Optional(Type.Array(TargetTransformSchema)),
  },
  { additionalProperties: false },
)

export const EventTypeSchema = Type.Object(
  {
    type: Type.String({ pattern: '^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)+$' }),
    version: Type.Integer({ minimum: 1 }),
    description: Type.Optional(Type.String()),
    producer: Type.Optional(Type.String({ pattern: '^[a-z0-9_-]+$' })),
    visibility: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('cluster'), Type.Literal('public')])),
    /** JSON Schema of `data` */
    schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** data fields every event of this type must have (added to the schema's `required`) */
    required: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** envelope paths the idempotency key is derived from, e.g. provider, data.messageId */
    idempotency: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    fanout: Type.Optional(Type.Array(FanoutTargetSchema)),
    /** only the node itself publishes it: ingest, webhooks, `omni publish`, producers on NATS and stages are refused */
    reserved: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const CatalogManifestSchema = Type.Object(
  {
    kind: Type.Literal('EventCatalog'),
    name: Type.Optional(Type.String()),
    producer: Type.String({ pattern: '^[a-z0-9_-]+$' }),
    events: Type.Array(EventTypeSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
)

export type CatalogManifest = Static<typeof CatalogManifestSchema>
export type EventTypeSpec = Static<typeof EventTypeSchema>
export type FanoutTarget = Static<typeof FanoutTargetSchema>
