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

/** Requires a bearer token with the route's scope on every route that is not public. */
export function installAuth(app: FastifyInstance, config: ApiConfig): void {
  app.decorateRequest('apiToken', undefined)
  app.addHook('onRequest', async (request: FastifyRequest) => {
    // routes declare their access; a route that forgot to is treated as admin-only
    const access: RouteAccess = request.routeOptions.config.access ?? 'admin'
    if (access === 'public') return
    const token = findToken(config.tokens, request.headers.authorization)
    if (token) request.apiToken = token
    if (access === 'webhook') return
    if (!request.headers.authorization) throw omniError('OMNI_ERR_UNAUTHORIZED', `${request.method} ${request.routeOptions.url} needs a bearer token with the ${access} scope (Authorization: Bearer <token>)`)
    if (!token) throw omniError('OMNI_ERR_UNAUTHORIZED', 'the bearer token is not one the API knows')
    if (!hasScope(token, access)) throw omniError('OMNI_ERR_FORBIDDEN', `token "${token.name}" has the scopes ${[...token.scopes].join(', ')}; this route needs ${access}`)
  })
}
