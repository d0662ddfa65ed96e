import Type from 'typebox'
import { EventDetailSchema, EventPageSchema, EventQuerySchema, EventRecordSchema, MAX_TEXT } from '../../clickhouse/query-schema.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { tenantsOf } from '../tenants.ts'

const Text = Type.String({ minLength: 1, maxLength: MAX_TEXT })

/** `GET /v1/events` (filters and a cursor) and `GET /v1/events/:id` (with its stage outcomes). */
export async function eventRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  app.addSchema(EventRecordSchema)
  app.get(
    '/v1/events',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Query recorded events',
        description: 'Newest first, one page at a time: pass `nextCursor` as `cursor` for the next (older) page. Reads ClickHouse.',
        tags: ['read'],
        security: [{ bearer: [] }],
        querystring: EventQuerySchema,
        response: { 200: EventPageSchema, '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request) => app.node.events.query(request.query, tenantsOf(request)),
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
        response: { 200: EventDetailSchema, '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request) => app.node.events.get(request.params.id, { ...request.query, tenants: tenantsOf(request) }),
  )
}
