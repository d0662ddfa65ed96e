import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import type { RouteAccess } from './auth.ts'
import type { ApiConfig } from './options.ts'
import { isNodeWide } from './tenants.ts'

export const API_VERSION = '0.1.0'

/**
 * What each access asks of a caller, in OpenAPI terms. A webhook authenticates with its
 * source's own secret or signature (no scheme OpenAPI can name), or else a bearer token.
 */
const SECURITY: Record<RouteAccess, { bearer?: string[] }[]> = {
  public: [],
  webhook: [{}, { bearer: [] }],
  ingest: [{ bearer: [] }],
  read: [{ bearer: [] }],
  admin: [{ bearer: [] }],
}

/**
 * OpenAPI 3 generated from the routes' TypeBox schemas, served as JSON at /docs/json and as a
 * browsable page at /docs. Both are public: the document describes the API, it grants nothing.
 */
export async function registerOpenApi(app: FastifyInstance, config: ApiConfig): Promise<void> {
  await app.register(swagger, {
    // shared schemas keep their $id as their component name (IngestResult, …), not def-N
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    // each operation's security comes from the access the auth hook enforces, so the two cannot drift
    transform: ({ schema, url, route }) => {
      const access: RouteAccess = (route.config as { access?: RouteAccess } | undefined)?.access ?? 'admin'
      if (!schema) return { schema, url }
      const allTenants = isNodeWide(route.config as Parameters<typeof isNodeWide>[0]) ? { 'x-omni-all-tenants': true } : {}
      return { schema: { ...schema, security: SECURITY[access], 'x-omni-access': access, ...allTenants }, url }
    },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Omni Fabric API',
        version: API_VERSION,
        description:
          'Ingest CloudEvents and provider webhooks, query recorded events and the catalog, watch the live stream, and manage pipelines, plugins and dead letters. ' +
          'Every route but /healthz, /readyz and /docs needs `Authorization: Bearer <token>` with the scope it names (admin includes read and ingest). Errors share one shape with a stable OMNI_ERR_* code.',
      },
      servers: [{ url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}` }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      tags: [
        { name: 'ingest', description: 'CloudEvents and webhooks in' },
        { name: 'read', description: 'recorded events, the catalog, the live stream' },
        { name: 'manage', description: 'pipelines, plugins, dead letters' },
        { name: 'operations', description: 'health, readiness, metrics' },
      ],
    },
  })
  await app.register(async (docs) => {
    // the UI's own routes (page, assets, /docs/json) declare no access; in this context they are public
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), access: 'public' }
    })
    await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' }, staticCSP: true })
  })
}
