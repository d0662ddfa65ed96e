import { tenantAllowed, type TenantScope } from '../envelope/tenants.ts'
import { omniError, type Problem } from '../errors/mod.ts'
import type { PrepareOptions, PreparedEvent } from './prepare.ts'
import type { Locate } from './publish.ts'

/**
 * The tenant an event naming none is stamped with: the caller's only tenant. A caller of
 * several tenants gets the usual default, which the check below refuses unless it is theirs,
 * so an event never lands in a tenant by a guess.
 */
export function tenantDefaults(tenants: TenantScope): Pick<PrepareOptions, 'tenant'> {
  return tenants?.length === 1 && tenants[0] !== undefined ? { tenant: tenants[0] } : {}
}

/**
 * Refuses the request (OMNI_ERR_TENANT_FORBIDDEN, nothing published) when an event names a
 * tenant the caller may not act for; each problem points at that event's tenant field.
 */
export function requireTenants(prepared: readonly PreparedEvent[], tenants: TenantScope, locate: Locate = (_i, where) => where): void {
  if (tenants === undefined) return
  const problems: Problem[] = []
  prepared.forEach((p, i) => {
    if (!tenantAllowed(tenants, p.event.tenant)) problems.push({ where: locate(i, '$.tenant'), message: `tenant ${JSON.stringify(p.event.tenant)} is not one this token may act for (${tenants.join(', ')})` })
  })
  if (problems.length > 0) throw omniError('OMNI_ERR_TENANT_FORBIDDEN', `${problems.length} event(s) name a tenant this token may not act for; nothing was published`, { problems, permanent: true })
}
