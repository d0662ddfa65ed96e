// The contracts of the read queries, written once: the HTTP routes validate and document with
// these schemas, and the query modules take and return their static types.
import Type, { type Static } from 'typebox'

/** Longest text a filter takes. */
export const MAX_TEXT = 1024
export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 1000

const Text = Type.String({ minLength: 1, maxLength: MAX_TEXT })

/** The filters of an event query, as the HTTP query string takes them. Every one is optional; they combine with AND. */
export const EventQuerySchema = Type.Object(
  {
    type: Type.Optional(Text),
    tenant: Type.Optional(Text),
    instance: Type.Optional(Text),
    actor: Type.Optional(Text),
    conversation: Type.Optional(Text),
    subject: Type.Optional(Text),
    originNode: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT, description: 'only events received from this mesh node' })),
    from: Type.Optional(Type.String({ description: 'inclusive, on the event time: RFC 3339, or a date (UTC midnight)' })),
    to: Type.Optional(Type.String({ description: 'exclusive' })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT, description: 'case-insensitive substring of the payload' })),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT, description: 'a label a pipeline stage set: `name` (set at all) or `name=value` (a string equal to it, a list such as tags holding it, or a number or boolean written so), e.g. class=conversation, tags=urgent, trust=flag' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT })),
    cursor: Type.Optional(Type.String({ description: "the previous page's nextCursor" })),
  },
  { additionalProperties: false },
)

/**
 * An event query's filters. In code `from` and `to` may also be Dates; the query module checks
 * every field again and names the bad ones (the CLI's flags reach it unchecked).
 */
export type EventFilter = Omit<Static<typeof EventQuerySchema>, 'from' | 'to'> & { readonly from?: string | Date; readonly to?: string | Date }

/** The record's schema id: the API registers it once and refers to it, the OpenAPI document names it. */
const EVENT_RECORD_ID = 'EventRecord'

/** One row of omni_events as callers see it; fields the event did not carry are absent. */
export const EventRecordSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    source: Type.String(),
    subject: Type.String(),
    /** ISO 8601 UTC, millisecond precision */
    time: Type.String(),
    tenant: Type.String(),
    instance: Type.Optional(Type.String()),
    provider: Type.Optional(Type.String()),
    visibility: Type.String(),
    actor: Type.Optional(Type.String()),
    conversation: Type.Optional(Type.String()),
    correlationId: Type.Optional(Type.String()),
    causationId: Type.Optional(Type.String()),
    idempotencyKey: Type.String(),
    streamSeq: Type.Integer(),
    /** the pipeline whose output this event is; absent for an ingested event */
    emittedBy: Type.Optional(Type.String()),
    /** pipelines loaded when it was recorded whose sources matched its subject */
    pipelines: Type.Array(Type.String()),
    payload: Type.Record(Type.String(), Type.Unknown()),
    providerMeta: Type.Record(Type.String(), Type.Unknown()),
    /**
     * the stored text of `payload` or `providerMeta` when it is not a JSON object (written by
     * hand, not by Omni Fabric): that field is then `{}`, and the text is here, so one such row
     * neither breaks a listing nor goes unseen
     */
    unreadable: Type.Optional(Type.Object({ payload: Type.Optional(Type.String()), providerMeta: Type.Optional(Type.String()) }, { additionalProperties: false })),
    dataref: Type.Optional(Type.String()),
    recordedAt: Type.String(),
    /**
     * how the event came in: `client` (the CloudEvents API, `omni publish`, and rows recorded
     * before origins were), `webhook:<provider>:<instance>`; an output names its source's
     */
    origin: Type.String(),
    /** the mesh node the event was received from (its envelope's `origin`); absent for this node's own events */
    originNode: Type.Optional(Type.String()),
  },
  { $id: EVENT_RECORD_ID },
)
export type EventRecord = Static<typeof EventRecordSchema>

/** One stage outcome of an event, from omni_stage_outcomes. */
export const OutcomeRecordSchema = Type.Object({
  pipeline: Type.String(),
  stage: Type.String(),
  uses: Type.String(),
  digest: Type.Optional(Type.String()),
  /** ok, skipped, dropped, failed or dead-lettered (OutcomeStatus) */
  status: Type.String(),
  durationMs: Type.Number(),
  error: Type.Optional(Type.String()),
  attempt: Type.Integer(),
  streamSeq: Type.Integer(),
  recordedAt: Type.String(),
  /** the labels the stage set (labels.trust and trustReason, class, tags, …); absent when none */
  labels: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
})
export type OutcomeRecord = Static<typeof OutcomeRecordSchema>

// The answers refer to the record by its $id; Static cannot see through a reference, so their
// types put the record back.
const EventRecordRef = Type.Ref(EVENT_RECORD_ID)

/** A page of events, newest first. */
export const EventPageSchema = Type.Object({
  events: Type.Array(EventRecordRef),
  /** present when more events match: pass it as `cursor` for the next (older) page */
  nextCursor: Type.Optional(Type.String()),
})
export type EventPage = Omit<Static<typeof EventPageSchema>, 'events'> & { readonly events: EventRecord[] }

/** An event by id: every subject it was recorded under, and what each pipeline stage did with it. */
export const EventDetailSchema = Type.Object({
  events: Type.Array(EventRecordRef),
  /** by pipeline, then stream message, then stage */
  outcomes: Type.Array(OutcomeRecordSchema),
})
export type EventDetail = Omit<Static<typeof EventDetailSchema>, 'events'> & { readonly events: EventRecord[] }

/** Which events the observed catalog counts: one instance, one tenant, or all. */
export const ObservedScopeSchema = Type.Object(
  { instance: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
  { additionalProperties: false },
)
export type ObservedScope = Static<typeof ObservedScopeSchema>
