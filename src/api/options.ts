import { hash } from 'node:crypto'
import { omniError, type Problem } from '../errors/mod.ts'
import { DEFAULT_TENANT, type TenantScope } from '../envelope/tenants.ts'

/** What a token may do; `admin` includes `read` and `ingest`. */
export const SCOPES = ['ingest', 'read', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

/** A bearer token as configured: its secret is kept only as a SHA-256 digest. */
export interface ApiToken {
  readonly name: string
  readonly digest: Buffer
  readonly scopes: ReadonlySet<Scope>
  /** the tenants it may act for; undefined is every tenant (`*`: admin only, with allowAllTenants) */
  readonly tenants: TenantScope
  /** this token's own quotas per window, in place of the API's (0 = none) */
  readonly quota?: { readonly events?: number; readonly bytes?: number }
}

/** A token's `tenants` entry that stands for every tenant. */
export const ALL_TENANTS = '*'
/** The envelope's limit on a tenant name. */
const TENANT_MAX_LENGTH = 256

/** What a user may set, from flags, a tokens file or the environment. */
export interface ApiSettings {
  readonly host?: string
  readonly port?: number
  readonly tokens?: readonly { readonly name?: unknown; readonly token?: unknown; readonly scopes?: unknown; readonly tenants?: unknown; readonly quota?: unknown }[]
  /** the operator's consent to admin tokens with `tenants: ['*']` (every tenant); off by default */
  readonly allowAllTenants?: boolean
  /** origins allowed to call the API from a browser; none means CORS stays off */
  readonly corsOrigins?: readonly string[]
  /** largest request body, bytes */
  readonly bodyLimit?: number
  /** requests per minute per token (per address without a token) */
  readonly rateLimit?: number
  /** SSE comment line interval, so proxies and clients see a live connection */
  readonly heartbeatMs?: number
  /** live streams (/v1/stream) one token may hold open at once */
  readonly streamsPerToken?: number
  /** events one token may ingest per quota window (0 = no quota) */
  readonly quotaEvents?: number
  /** request body bytes one token may send to the ingest routes per quota window (0 = no quota) */
  readonly quotaBytes?: number
  /** the quota window, ms */
  readonly quotaWindowMs?: number
}

export interface ApiConfig {
  readonly host: string
  readonly port: number
  readonly tokens: readonly ApiToken[]
  readonly corsOrigins: readonly string[]
  readonly bodyLimit: number
  readonly rateLimit: number
  readonly heartbeatMs: number
  readonly streamsPerToken: number
  readonly quotaEvents: number
  readonly quotaBytes: number
  readonly quotaWindowMs: number
}

export const API_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  bodyLimit: 1024 * 1024,
  rateLimit: 6000,
  heartbeatMs: 15_000,
  streamsPerToken: 16,
  // 10 000 events and about 17 MiB of bodies a second on average, per token: far above a busy
  // integration, far below what one runaway client could push through 6000 requests a minute
  quotaEvents: 600_000,
  quotaBytes: 1024 * 1024 * 1024,
  quotaWindowMs: 60_000,
} as const

/** A token shorter than this is refused: it could be guessed. */
const MIN_TOKEN_LENGTH = 24

export function tokenDigest(token: string): Buffer {
  // the one-shot hash: it runs on every request, and a Hash object costs several times more
  return hash('sha256', token, 'buffer')
}

/** Applies defaults, checks every value, reports all problems at once, and freezes the result. */
export function resolveApiConfig(settings: ApiSettings = {}): ApiConfig {
  const problems: Problem[] = []
  const int = (key: 'port' | 'bodyLimit' | 'rateLimit' | 'heartbeatMs' | 'streamsPerToken' | 'quotaEvents' | 'quotaBytes' | 'quotaWindowMs', min: number, max: number): number => {
    const v = settings[key] ?? API_DEFAULTS[key]
    if (!Number.isInteger(v) || v < min || v > max) problems.push({ where: `api.${key}`, message: `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}` })
    return v
  }
  const host = settings.host ?? API_DEFAULTS.host
  if (typeof host !== 'string' || host === '') problems.push({ where: 'api.host', message: 'must be a host name or address' })
  const tokens: ApiToken[] = []
  ;(settings.tokens ?? []).forEach((t, i) => {
    const where = `api.tokens[${i}]`
    const name = typeof t.name === 'string' && t.name !== '' ? t.name : undefined
    if (!name) problems.push({ where: `${where}.name`, message: 'is required (a label for logs and rate limits)' })
    if (typeof t.token !== 'string' || t.token.length < MIN_TOKEN_LENGTH) problems.push({ where: `${where}.token`, message: `must be a string of at least ${MIN_TOKEN_LENGTH} characters` })
    const scopes = Array.isArray(t.scopes) ? t.scopes : []
    if (scopes.length === 0) problems.push({ where: `${where}.scopes`, message: `must list one or more of ${SCOPES.join(', ')}` })
    scopes.forEach((s, j) => {
      if (!SCOPES.includes(s as Scope)) problems.push({ where: `${where}.scopes[${j}]`, message: `must be one of ${SCOPES.join(', ')}, got ${JSON.stringify(s)}` })
    })
    const tenants = tokenTenants(t.tenants, scopes.includes('admin'), settings.allowAllTenants === true, where, problems)
    if (name && typeof t.token === 'string') {
      if (tokens.some((x) => x.name === name)) problems.push({ where: `${where}.name`, message: `"${name}" is used by another token` })
      const quota = tokenQuota(t.quota, `${where}.quota`, problems)
      tokens.push({ name, digest: tokenDigest(t.token), scopes: new Set(scopes as Scope[]), tenants, ...(quota ? { quota } : {}) })
    }
  })
  const corsOrigins = settings.corsOrigins ?? []
  corsOrigins.forEach((o, i) => {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) problems.push({ where: `api.corsOrigins[${i}]`, message: `must be an origin such as https://app.example.com (scheme and host, no path), got ${JSON.stringify(o)}` })
  })
  const config: ApiConfig = {
    host,
    port: int('port', 0, 65_535),
    tokens,
    corsOrigins: [...corsOrigins],
    bodyLimit: int('bodyLimit', 1024, 64 * 1024 * 1024),
    rateLimit: int('rateLimit', 1, 10_000_000),
    heartbeatMs: int('heartbeatMs', 100, 3_600_000),
    streamsPerToken: int('streamsPerToken', 1, 10_000),
    quotaEvents: int('quotaEvents', 0, Number.MAX_SAFE_INTEGER),
    quotaBytes: int('quotaBytes', 0, Number.MAX_SAFE_INTEGER),
    quotaWindowMs: int('quotaWindowMs', 1000, 86_400_000),
  }
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid API settings', { problems })
  return Object.freeze(config)
}

/**
 * A token's tenants. None given is the default tenant only (a token file written before tenants
 * existed keeps working for the one tenant events get by default, and reaches no other). `*`
 * is every tenant: only for an admin token, and only when the operator allowed it.
 */
function tokenTenants(value: unknown, admin: boolean, allowAll: boolean, where: string, problems: Problem[]): TenantScope {
  if (value === undefined) return [DEFAULT_TENANT]
  if (!Array.isArray(value) || value.length === 0) {
    problems.push({ where: `${where}.tenants`, message: `must list one or more tenant names (or ${ALL_TENANTS} for every tenant), got ${JSON.stringify(value)}` })
    return [DEFAULT_TENANT]
  }
  const names: string[] = []
  value.forEach((v: unknown, j) => {
    if (v === ALL_TENANTS) {
      if (!admin) problems.push({ where: `${where}.tenants[${j}]`, message: `${ALL_TENANTS} (every tenant) is allowed only for a token with the admin scope` })
      else if (!allowAll) problems.push({ where: `${where}.tenants[${j}]`, message: `${ALL_TENANTS} (every tenant) needs the operator's consent: start with --api-all-tenants (OMNI_API_ALL_TENANTS=true)` })
      if (value.length > 1) problems.push({ where: `${where}.tenants[${j}]`, message: `${ALL_TENANTS} stands alone: it already includes every tenant` })
    } else if (typeof v !== 'string' || v.length === 0 || v.length > TENANT_MAX_LENGTH) problems.push({ where: `${where}.tenants[${j}]`, message: `must be a tenant name (1 to ${TENANT_MAX_LENGTH} characters) or ${ALL_TENANTS}, got ${JSON.stringify(v)}` })
    else names.push(v)
  })
  if (value.includes(ALL_TENANTS)) return undefined
  return [...new Set(names)]
}

/** A token's own `quota: { events, bytes }`, each a whole number (0 = none). */
function tokenQuota(value: unknown, where: string, problems: Problem[]): ApiToken['quota'] {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({ where, message: 'must be a map with events and/or bytes' })
    return undefined
  }
  const quota: { events?: number; bytes?: number } = {}
  for (const [k, v] of Object.entries(value)) {
    if (k !== 'events' && k !== 'bytes') problems.push({ where: `${where}.${k}`, message: 'is not a quota (events, bytes)' })
    else if (!Number.isSafeInteger(v) || (v as number) < 0) problems.push({ where: `${where}.${k}`, message: `must be a whole number, 0 for none, got ${JSON.stringify(v)}` })
    else quota[k] = v as number
  }
  return quota
}
