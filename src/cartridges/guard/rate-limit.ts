import Type, { type Static } from 'typebox'
import { omniError } from '../../errors/mod.ts'
import type { Cartridge, StageContext, StageResult } from '../../pipeline/stage.ts'
import { boundedMap } from '../util/bounded-map.ts'
import { celVars, evaluateKey } from '../util/cel.ts'
import { configDuration } from '../util/duration.ts'
import { celExpression, duration } from '../util/schema.ts'

/** Buckets kept per stage; past this the least recently used key is forgotten (and starts full again). */
export const MAX_RATE_LIMIT_KEYS = 10_000
// Tolerates the rounding of fractional refills (0.1 + 0.2 + … not adding up to exactly 1).
const EPSILON = 1e-9

const RateLimitConfig = Type.Object(
  {
    key: Type.Optional(celExpression('what is limited, a string (default: the actor, or the tenant for events without one)')),
    rate: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'events allowed per period' }),
    per: duration('the period'),
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'events allowed at once after a quiet spell (default: rate)' })),
    action: Type.Optional(
      Type.Union([Type.Literal('drop'), Type.Literal('label')], { description: 'drop events over the limit, or let them through with labels.rateLimited = true (default drop)' }),
    ),
  },
  { additionalProperties: false },
)
type RateLimitConfig = Static<typeof RateLimitConfig>

interface Bucket {
  readonly tokens: number
  readonly at: number
}

export const rateLimit: Cartridge<RateLimitConfig> = {
  id: 'guard.rate_limit',
  title: 'Rate limit',
  description:
    'Token bucket per key: each key may pass `rate` events per `per`, refilled continuously, with up to `burst` at once. ' +
    'The key is the actor (within its tenant), or the tenant for events without an actor, unless a CEL expression gives ' +
    'one. Events over the limit are dropped, or with action label continue with labels.rateLimited = true. Buckets live ' +
    `in the worker process (each worker limits on its own) and at most ${MAX_RATE_LIMIT_KEYS} keys are kept, least recently ` +
    'used first out. A redelivered event takes a token again.',
  phase: 'guard',
  configSchema: RateLimitConfig,
  create(config, env) {
    const perMs = configDuration(config.per, ['per'])
    const burst = config.burst ?? config.rate
    const refillPerMs = config.rate / perMs
    const action = config.action ?? 'drop'
    const limit = `${config.rate} per ${typeof config.per === 'number' ? `${config.per}ms` : config.per}`
    const program = config.key === undefined ? undefined : env.cel(config.key, ['key'])
    const buckets = boundedMap<Bucket>(MAX_RATE_LIMIT_KEYS)

    const keyOf = (ctx: StageContext): string => {
      const { actor, tenant } = ctx.event
      if (!program) return actor === undefined ? `tenant:${tenant}` : `actor:${tenant}/${actor}`
      const r = evaluateKey(program, celVars(ctx))
      if (r.type === 'error') throw omniError('OMNI_ERR_STAGE_FAILED', `rate limit key expression failed: ${r.message}`, { permanent: true })
      return r.key
    }

    return (ctx): StageResult => {
      const key = keyOf(ctx)
      const now = ctx.services.now()
      const last = buckets.get(key)
      const tokens = last ? Math.min(burst, last.tokens + Math.max(0, now - last.at) * refillPerMs) : burst
      const allowed = tokens >= 1 - EPSILON
      // A clock that steps back must not mint tokens later, so time only moves forward here.
      buckets.set(key, { tokens: allowed ? Math.max(0, tokens - 1) : tokens, at: last ? Math.max(now, last.at) : now })
      if (action === 'label') return { type: 'continue', labels: { rateLimited: !allowed } }
      return allowed ? { type: 'continue' } : { type: 'drop', reason: `rate limit exceeded (${limit})` }
    }
  },
}
