import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyServerOptions } from 'fastify'
import { omniError } from '../errors/mod.ts'
import type { Logger } from '../observability/logger.ts'
import { installAuth } from './auth.ts'
import { installTenantGate } from './tenants.ts'
import type { OmniNode } from '../node/mod.ts'
import type { ApiApp, RouteOptions } from './context.ts'
import { errorBody, installErrorHandlers } from './errors.ts'
import { registerOpenApi } from './openapi.ts'
import type { ApiConfig } from './options.ts'
import { createQuotas } from './quota.ts'
import { validatorCompiler } from './validator.ts'
import { catalogRoutes } from './routes/catalog.ts'
import { dlqRoutes } from './routes/dlq.ts'
import { eventRoutes } from './routes/events.ts'
import { healthRoutes } from './routes/health.ts'
import { IngestResult, ingestRoutes } from './routes/ingest.ts'
import { meshRoutes } from './routes/mesh.ts'
import { pipelineRoutes } from './routes/pipelines.ts'
import { pluginRoutes } from './routes/plugins.ts'
import { cartridgeRoutes } from './routes/cartridges.ts'
import { streamRoutes } from './routes/stream.ts'
import { webhookRoutes } from './routes/webhooks.ts'

/** Fastify types validator builders for Ajv; any compiler of route schemas fits at run time. */
type ValidatorBuilder = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>
const typeBoxEverywhere = (() => validatorCompiler) as unknown as ValidatorBuilder

/**
 * How the API's Fastify server parses, logs and closes, apart from validation; the benchmark's
 * empty route uses the same, so the two are compared like for like.
 */
export function serverOptions(logger: Logger, bodyLimit: number): FastifyServerOptions {
  return {
    // pino's Logger is a FastifyBaseLogger; naming the base type keeps route plugins' types simple
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit,
    // a proxy in front must be configured explicitly; by default the peer address is the client
    trustProxy: false,
    // close() ends idle keep-alive sockets only: a request in flight (an ingest waiting for its
    // JetStream ack) gets its answer; SSE streams are ended by their own preClose hook
    forceCloseConnections: 'idle',
    // the request id is echoed in unexpected-error answers, to find the log line
    requestIdHeader: false,
    // no child logger per request: it cost about 1 µs on every request while only errors log,
    // and those name the request id themselves
    childLoggerFactory: (parent) => parent,
    // no line per request (the top-level option of the same name is deprecated in Fastify 5)
    logController: new LogController({ disableRequestLogging: true }),
    // a URL Fastify cannot decode never reaches the error handler: answer it in the one shape too
    frameworkErrors: (error, _request, reply) => {
      const err = omniError('OMNI_ERR_BODY_INVALID', `the request cannot be read: ${error.message}`)
      // the reply here is typed for no route in particular
      void (reply as FastifyReply).status(err.status).send(errorBody(err))
    },
  }
}

/** How the API holds its node. */
export interface ApiNodeOptions {
  /** true: closing the API closes the node too, after the last request is answered (`omni up`) */
  readonly owns?: boolean
}

/**
 * Builds the HTTP API on a running node, ready for `inject()` or `listen()`. The node is a
 * decoration every route reaches as `app.node`; the API releases it in `onClose`. Validation
 * uses TypeBox's compiler: bodies are checked as sent, never coerced or stripped of fields.
 */
export async function buildApi(node: OmniNode, config: ApiConfig, logger: Logger, opts: ApiNodeOptions = {}): Promise<ApiApp> {
  const app = Fastify({
    ...serverOptions(logger, config.bodyLimit),
    // TypeBox in every context: a plugin that adds schemas of its own would otherwise get a fresh
    // default Ajv (setValidatorCompiler is not inherited then), which strips and coerces
    schemaController: { compilersFactory: { buildValidator: typeBoxEverywhere } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.decorate('node', node)
  // after the server stopped taking requests and answered those in flight
  if (opts.owns) app.addHook('onClose', async () => node.close())
  installErrorHandlers(app)
  closeConnectionsWhenClosing(app)
  // CORS first: its hook answers a preflight (which carries no token) and marks every answer
  if (config.corsOrigins.length > 0) await app.register(cors, { origin: [...config.corsOrigins], credentials: false })
  installAuth(app, config)
  installTenantGate(app)
  await app.register(rateLimit, {
    max: config.rateLimit,
    timeWindow: 60_000,
    // after the caller is identified and before it is refused (see installAuth): a token's
    // requests count under its name wherever they come from, and failed guesses count too
    hook: 'onRequest',
    keyGenerator: (request) => (request.apiToken ? `token:${request.apiToken.name}` : `ip:${request.ip}`),
    allowList: (request) => request.routeOptions.config.access === 'public',
    errorResponseBuilder: (_request, context) => omniError('OMNI_ERR_RATE_LIMITED', `rate limit of ${context.max} requests per ${context.after} exceeded; retry in ${Math.ceil(context.ttl / 1000)} s`),
  })
  await registerOpenApi(app, config)
  // schemas more than one route plugin refers to: route plugins are encapsulated
  app.addSchema(IngestResult)
  const routeOptions: RouteOptions = { config, quotas: createQuotas(config) }
  for (const routes of [healthRoutes, ingestRoutes, webhookRoutes, eventRoutes, catalogRoutes, streamRoutes, pipelineRoutes, pluginRoutes, cartridgeRoutes, dlqRoutes, meshRoutes]) {
    await app.register(routes, routeOptions)
  }
  return app
}

/**
 * The server closes only sockets idle when close() begins; one whose request was in flight would
 * stay open for the keep-alive timeout after its answer, and hold close() that long.
 */
function closeConnectionsWhenClosing(app: ApiApp): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}
