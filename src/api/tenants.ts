import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TenantScope } from '../envelope/tenants.ts'
import { omniError } from '../errors/mod.ts'
import './auth.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * An admin route whose service filters by the token's tenants (a dead-letter redrive). Any
     * other admin route changes what every tenant shares (pipelines, plugins), so it needs a
     * token of every tenant: a route that forgets to say is the safe kind.
     */
    tenantScoped?: boolean
  }
}

/**
 * The tenants the request's token may act for, for the services to filter by. A request without
 * a token reaches no tenant: routes that need one are refused before this, so none is a bug's
 * fallback that must not widen anything.
 */
export function tenantsOf(request: FastifyRequest): TenantScope {
  return request.apiToken ? request.apiToken.tenants : []
}

/** Whether a route changes what every tenant shares, and so needs a token of every tenant. */
export function isNodeWide(config: { readonly access?: string; readonly tenantScoped?: boolean } | undefined): boolean {
  return (config?.access ?? 'admin') === 'admin' && config?.tenantScoped !== true
}

/**
 * Refuses a node-wide admin route to a token limited to some tenants: a pipeline or a plugin
 * sees every tenant's events, so a tenant's admin changing one would reach the others. Runs
 * after installAuth's check (hooks run in the order they are added), before the body is read.
 */
export function installTenantGate(app: FastifyInstance): void {
  app.addHook('preParsing', async (request: FastifyRequest) => {
    const token = request.apiToken
    if (!token || token.tenants === undefined || request.is404 || !isNodeWide(request.routeOptions.config)) return
    throw omniError(
      'OMNI_ERR_FORBIDDEN',
      `token "${token.name}" acts for the tenants ${token.tenants.join(', ')}; ${request.method} ${request.routeOptions.url} changes what every tenant shares, so it needs an admin token with tenants: ['*'] (allowed with --api-all-tenants)`,
    )
  })
}
