/**
 * The tenants a caller may see and act for. A list names them; `undefined` is every tenant,
 * which only the operator has: the CLI on the data folder's credentials, or an API token given
 * `*` with the operator's explicit consent. Services filter by it, so the API and the CLI share
 * one definition of what a caller can reach.
 */
export type TenantScope = readonly string[] | undefined

/** The tenant an event is stamped with when it names none. */
export const DEFAULT_TENANT = 'default'

/** Whether `tenant` (read from stored bytes, so of any type) is one the scope reaches. */
export function tenantAllowed(scope: TenantScope, tenant: unknown): boolean {
  return scope === undefined || (typeof tenant === 'string' && scope.includes(tenant))
}
