import Type, { type Static } from 'typebox'
import { stableHash } from '../../envelope/derive.ts'
import { omniError } from '../../errors/mod.ts'
import type { Cartridge, CelProgram, StageContext, StageResult } from '../../pipeline/stage.ts'
import { celVars, evaluateKey } from '../util/cel.ts'
import { celExpression } from '../util/schema.ts'

const DedupConfig = Type.Object(
  {
    key: Type.Optional(celExpression('the dedup key, a string (default: the envelope idempotencykey)')),
  },
  { additionalProperties: false },
)
type DedupConfig = Static<typeof DedupConfig>

/** The marker of `key` for one pipeline, origin and tenant: `dedup:` and a digest of the four. */
export function markerKey(pipeline: string, origin: string, tenant: string, key: string): string {
  return `dedup:${stableHash(pipeline, origin, tenant, key)}`
}

export const dedup: Cartridge<DedupConfig> = {
  id: 'guard.dedup',
  title: 'Deduplicate',
  description:
    "Drops an event whose key was already processed, for longer than the stream's duplicate window covers. " +
    'The key is the idempotency key unless a CEL expression gives another one; keys are kept per pipeline, tenant and origin ' +
    "(client ingest, each webhook source, each pipeline's outputs), so a client cannot plant a marker for another origin's " +
    "event, in the deployment's dedup store (with its expiry). A key is marked only once the event's outputs are durable, so an " +
    'event that failed and is redelivered is processed again rather than mistaken for a duplicate. Two copies in ' +
    'flight at the same moment can both pass; the stream duplicate window covers that case for exact republishes.',
  phase: 'dedup',
  configSchema: DedupConfig,
  create(config, env) {
    const program: CelProgram | undefined = config.key === undefined ? undefined : env.cel(config.key, ['key'])
    const keyOf = (ctx: StageContext): string => {
      if (!program) return ctx.event.idempotencykey
      const r = evaluateKey(program, celVars(ctx))
      if (r.type === 'error') throw omniError('OMNI_ERR_STAGE_FAILED', `dedup key expression failed: ${r.message}`, { permanent: true })
      return r.key
    }
    return async (ctx): Promise<StageResult> => {
      const store = ctx.services.dedup
      if (!store) throw omniError('OMNI_ERR_CONFIG', `stage "${ctx.stage}" uses guard.dedup but no dedup store is configured`)
      // Scoped by pipeline (two pipelines deduplicating one event must not see each other's
      // marks), by origin (a key a client chose can only match what that client sent, never a
      // webhook's or a pipeline output's) and by tenant (keys come from data, so two tenants
      // share them): a digest of the four, so no choice of key reaches another's space.
      const key = markerKey(ctx.pipeline, ctx.origin, ctx.event.tenant, keyOf(ctx))
      // Waiting on the store is no work of the event: the JetStream client bounds the wait (its
      // request timeout), and a bucket that does not answer in time fails as an outage (retried,
      // never dead-lettered) rather than as this stage's timeout, which would use up a delivery.
      const clock = ctx.clock
      clock?.pause()
      let seen: boolean
      try {
        seen = await store.has(key)
      } finally {
        clock?.resume()
      }
      if (seen) return { type: 'drop', reason: 'duplicate of an already processed event' }
      return { type: 'continue', afterCommit: () => store.mark(key) }
    }
  },
}
