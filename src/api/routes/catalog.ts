import Type from 'typebox'
import { ObservedScopeSchema } from '../../clickhouse/query-schema.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { tenantsOf } from '../tenants.ts'

/** `GET /v1/catalog` (observed vs mapped vs unmapped) and `GET /v1/catalog/actions` (the marketplace listing). */
export async function catalogRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  app.get(
    '/v1/catalog',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Event types: declared, observed per instance, mapped or unmapped',
        description:
          'For UIs to autocomplete: every declared type with its subject and fan-out, the types each instance actually sent (counts, first and last seen) with the loaded pipelines that map them, and the declared types never seen.',
        tags: ['read'],
        security: [{ bearer: [] }],
        querystring: ObservedScopeSchema,
        response: {
          200: Type.Object({
            declared: Type.Array(Type.Unknown()),
            observed: Type.Array(Type.Unknown(), { description: 'one row per instance and type: count, firstSeen, lastSeen, mapped (pipelines), status mapped|unmapped, declared' }),
            notObserved: Type.Array(Type.Unknown()),
          }),
          '4xx': ErrorResponse,
          '5xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { declared, observed, notObserved } = await app.node.catalog.observed(request.query, tenantsOf(request))
      return { declared, observed, notObserved }
    },
  )
  app.get(
    '/v1/catalog/actions',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The cartridges and installed plugins a stage can use',
        description: 'The marketplace listing: built-in cartridges with their config schemas, and each installed plugin as `plugin:<id>` with its tier, runtime and state.',
        tags: ['read'],
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ cartridges: Type.Array(Type.Unknown()), plugins: Type.Array(Type.Unknown()) }), '4xx': ErrorResponse },
      },
    },
    async () => app.node.catalog.actions(),
  )
}
