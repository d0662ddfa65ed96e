import type { FastifyRequest } from 'fastify'
import { omniError } from '../errors/mod.ts'
import type { ApiConfig, ApiToken } from './options.ts'

/** What one request costs against its caller's quota. */
export interface QuotaCost {
  readonly events: number
  readonly bytes: number
}

/** Per-caller quotas on events and body bytes in fixed windows, beside the request rate limit. */
export interface Quotas {
  /**
   * Counts the cost against the caller's current window, or throws OMNI_ERR_QUOTA_EXCEEDED
   * (429, Retry-After: the window's end) and counts nothing when it does not fit.
   */
  charge(caller: QuotaCaller, cost: QuotaCost): void
}

/** Who pays: a bearer token (its own limits, if it has any), or a webhook source's instance. */
export interface QuotaCaller {
  readonly key: string
  readonly token?: ApiToken
}

interface Used {
  events: number
  bytes: number
}

/**
 * Fixed windows aligned on the clock: every caller's counts start again at the same moment, so
 * one map per window is all the state, and callers of a past window are forgotten with it.
 */
export function createQuotas(config: Pick<ApiConfig, 'quotaEvents' | 'quotaBytes' | 'quotaWindowMs'>, now: () => number = Date.now): Quotas {
  let window = -1
  let used = new Map<string, Used>()
  return {
    charge(caller, cost) {
      const events = caller.token?.quota?.events ?? config.quotaEvents
      const bytes = caller.token?.quota?.bytes ?? config.quotaBytes
      if (events === 0 && bytes === 0) return
      const at = now()
      const current = Math.floor(at / config.quotaWindowMs)
      if (current !== window) {
        window = current
        used = new Map()
      }
      const u = used.get(caller.key) ?? { events: 0, bytes: 0 }
      const retryAfterS = Math.max(1, Math.ceil(((current + 1) * config.quotaWindowMs - at) / 1000))
      const per = `per ${config.quotaWindowMs / 1000} s`
      const over = (what: string, limit: number, spent: number, asked: number) => {
        // a request larger than the whole quota would wait forever: say so instead of "retry"
        if (asked > limit) return omniError('OMNI_ERR_QUOTA_EXCEEDED', `${caller.key} may send ${limit} ${what} ${per}; this request alone carries ${asked}: split it`, { permanent: true })
        return omniError('OMNI_ERR_QUOTA_EXCEEDED', `${caller.key} sent ${spent} of its ${limit} ${what} ${per}; this request carries ${asked} more; nothing of it was stored, retry in ${retryAfterS} s`, { retryAfterS })
      }
      if (events > 0 && u.events + cost.events > events) throw over('events', events, u.events, cost.events)
      if (bytes > 0 && u.bytes + cost.bytes > bytes) throw over('body bytes', bytes, u.bytes, cost.bytes)
      u.events += cost.events
      u.bytes += cost.bytes
      used.set(caller.key, u)
    },
  }
}

/** The caller a request is charged to: its token when it has one, else `fallback` (a webhook source instance). */
export function quotaCaller(request: FastifyRequest, fallback: string): QuotaCaller {
  return request.apiToken ? { key: `token "${request.apiToken.name}"`, token: request.apiToken } : { key: fallback }
}

/** The body's size in bytes: its Content-Length (Fastify refuses a body that differs from it), else the parsed body re-encoded. */
export function bodyBytes(request: FastifyRequest, body: unknown): number {
  const declared = Number(request.headers['content-length'])
  return Number.isSafeInteger(declared) && declared >= 0 ? declared : Buffer.byteLength(JSON.stringify(body ?? null))
}
