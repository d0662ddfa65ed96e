import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { omniError } from '../errors/mod.ts'
import { tokenDigest, type ApiConfig, type ApiToken, type Scope } from './options.ts'

/**
 * What a route asks of its caller: a token scope, nothing (`public`: health and docs), or
 * `webhook`, where the source's shared secret or signature stands in for a token (checked by the
 * route, which knows the source).
 */
export type RouteAccess = Scope | 'public' | 'webhook'

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess
  }
  interface FastifyRequest {
    /** the bearer token the request carried, when it is a known one */
    apiToken?: ApiToken
  }
}

/** Finds the configured token whose digest matches, comparing in constant time. */
export function findToken(tokens: readonly ApiToken[], header: string | undefined): ApiToken | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  if (!m?.[1]) return undefined
  const digest = tokenDigest(m[1])
  // every token is compared, so the time taken does not tell which one nearly matched
  let found: ApiToken | undefined
  for (const t of tokens) if (timingSafeEqual(t.digest, digest)) found = t
  return found
}

export function hasScope(token: ApiToken | undefined, scope: Scope): boolean {
  return token !== undefined && (token.scopes.has(scope) || token.scopes.has('admin'))
}

/** The access a request's route declares; a route that forgot to is treated as admin-only. */
const accessOf = (request: FastifyRequest): RouteAccess => request.routeOptions.config.access ?? 'admin'

/**
 * Requires a bearer token with the route's scope on every route that is not public. The caller
 * is identified first (onRequest) and refused later (preParsing, before any body is read), so
 * the per-token rate limit, a route-level onRequest hook, counts refused requests too: guessing
 * tokens is limited like anything else. A CORS preflight is answered before either.
 */
export function installAuth(app: FastifyInstance, config: ApiConfig): void {
  app.decorateRequest('apiToken', undefined)
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (accessOf(request) === 'public') return
    const token = findToken(config.tokens, request.headers.authorization)
    if (token) request.apiToken = token
  })
  app.addHook('preParsing', async (request: FastifyRequest) => {
    const access = accessOf(request)
    // an unknown route is a 404 for anyone: the route list is public at /docs anyway
    if (access === 'public' || access === 'webhook' || request.is404) return
    const token = request.apiToken
    if (!request.headers.authorization) throw omniError('OMNI_ERR_UNAUTHORIZED', `${request.method} ${request.routeOptions.url} needs a bearer token with the ${access} scope (Authorization: Bearer <token>)`)
    if (!token) throw omniError('OMNI_ERR_UNAUTHORIZED', 'the bearer token is not one the API knows')
    if (!hasScope(token, access)) throw omniError('OMNI_ERR_FORBIDDEN', `token "${token.name}" has the scopes ${[...token.scopes].join(', ')}; this route needs ${access}`)
  })
}
