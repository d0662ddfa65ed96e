import Type from 'typebox'
import type { ClickHouse } from '../../clickhouse/client.ts'
import { getEvent, MAX_LIMIT, queryEvents } from '../../clickhouse/query.ts'
import { omniError } from '../../errors/mod.ts'
import type { Fabric } from '../../node/fabric.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'

const Text = Type.String({ minLength: 1, maxLength: 1024 })

/** The query module's filters, as a query string; the module checks them again and names bad ones. */
const EventQuery = Type.Object(
  {
    type: Type.Optional(Text),
    tenant: Type.Optional(Text),
    instance: Type.Optional(Text),
    actor: Type.Optional(Text),
    conversation: Type.Optional(Text),
    subject: Type.Optional(Text),
    from: Type.Optional(Type.String({ description: 'inclusive, on the event time: RFC 3339, or a date (UTC midnight)' })),
    to: Type.Optional(Type.String({ description: 'exclusive' })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'case-insensitive substring of the payload' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: 50 })),
    cursor: Type.Optional(Type.String({ description: "the previous page's nextCursor" })),
  },
  { additionalProperties: false },
)

const EventRecord = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    source: Type.String(),
    subject: Type.String(),
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
    emittedBy: Type.Optional(Type.String()),
    pipelines: Type.Array(Type.String()),
    payload: Type.Record(Type.String(), Type.Unknown()),
    providerMeta: Type.Record(Type.String(), Type.Unknown()),
    dataref: Type.Optional(Type.String()),
    recordedAt: Type.String(),
  },
  { $id: 'EventRecord' },
)

const ActionRecord = Type.Object({
  pipeline: Type.String(),
  stage: Type.String(),
  uses: Type.String(),
  digest: Type.Optional(Type.String()),
  status: Type.String(),
  durationMs: Type.Number(),
  error: Type.Optional(Type.String()),
  attempt: Type.Integer(),
  streamSeq: Type.Integer(),
  recordedAt: Type.String(),
})

/** The ClickHouse the fabric records into, or a 503 that says how to get one. */
export function requireClickHouse(fabric: Fabric): ClickHouse {
  const ch = fabric.sink?.ch
  if (!ch) throw omniError('OMNI_ERR_UNAVAILABLE', 'ClickHouse is off (omni up --no-clickhouse): nothing is recorded to query; start without --no-clickhouse')
  return ch
}

/** `GET /v1/events` (filters and a cursor) and `GET /v1/events/:id` (with its stage outcomes). */
export async function eventRoutes(app: ApiApp, { deps }: RouteOptions): Promise<void> {
  app.addSchema(EventRecord)
  app.get(
    '/v1/events',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Query recorded events',
        description: 'Newest first, one page at a time: pass `nextCursor` as `cursor` for the next (older) page. Reads ClickHouse.',
        tags: ['read'],
        security: [{ bearer: [] }],
        querystring: EventQuery,
        response: { 200: Type.Object({ events: Type.Array(Type.Ref('EventRecord')), nextCursor: Type.Optional(Type.String()) }), '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request) => queryEvents(requireClickHouse(deps.fabric), request.query),
  )
  app.get(
    '/v1/events/:id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'One event with its stage outcomes',
        description: 'Every subject the event was recorded under (the ingested one and fan-out copies), and what each pipeline stage did with it.',
        tags: ['read'],
        security: [{ bearer: [] }],
        params: Type.Object({ id: Text }),
        querystring: Type.Object({ tenant: Type.Optional(Text) }, { additionalProperties: false }),
        response: { 200: Type.Object({ events: Type.Array(Type.Ref('EventRecord')), actions: Type.Array(ActionRecord) }), '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request) => {
      const detail = await getEvent(requireClickHouse(deps.fabric), request.params.id, request.query.tenant === undefined ? {} : { tenant: request.query.tenant })
      if (!detail) throw omniError('OMNI_ERR_NOT_FOUND', `no event ${request.params.id} is recorded`)
      return detail
    },
  )
}
