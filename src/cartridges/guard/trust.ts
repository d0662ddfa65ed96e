import Type, { type Static } from 'typebox'
import type { Cartridge, StageResult } from '../../pipeline/stage.ts'
import { celVars, compileRules, firstMatch } from '../util/cel.ts'
import { emission } from '../util/emit.ts'
import { celExpression, eventSubject } from '../util/schema.ts'

const outcome = (description: string) =>
  Type.Union([Type.Literal('accept'), Type.Literal('flag'), Type.Literal('quarantine'), Type.Literal('reject')], { description })
type Outcome = Static<ReturnType<typeof outcome>>

/** The type of the event a quarantine emits. */
export const QUARANTINED_TYPE = 'omni.event.quarantined'
const DEFAULT_QUARANTINE_SUBJECT = 'omni.evt.omni.quarantined.v1'

const TrustConfig = Type.Object(
  {
    rules: Type.Array(
      Type.Object(
        {
          when: celExpression('true when the rule applies'),
          outcome: outcome('what happens to an event the rule matches'),
          reason: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'why, recorded with flag/quarantine/reject (default: the rule position)' })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 256, description: 'checked in order; the first matching rule decides' },
    ),
    default: Type.Optional(outcome('outcome when no rule matches (default accept)')),
    quarantineSubject: Type.Optional(eventSubject(`where quarantined events are published (default ${DEFAULT_QUARANTINE_SUBJECT})`)),
  },
  { additionalProperties: false },
)
type TrustConfig = Static<typeof TrustConfig>

export const trust: Cartridge<TrustConfig> = {
  id: 'guard.trust',
  title: 'Trust evaluator',
  description:
    'Evaluates each event against ordered CEL rules and applies the first matching outcome (or the default when none matches). ' +
    'accept lets the event through with labels.trust = "accept"; flag lets it through with labels.trust = "flag" and labels.trustReason; ' +
    `quarantine stops it and publishes an ${QUARANTINED_TYPE} event carrying the original envelope and the reason, for later review; ` +
    'reject stops it with the reason recorded and nothing published. A rule whose condition cannot be evaluated (a missing field) does not match.',
  phase: 'trust',
  configSchema: TrustConfig,
  // only a quarantine publishes
  emitsTo: (config) => (config.default === 'quarantine' || config.rules.some((r) => r.outcome === 'quarantine') ? [config.quarantineSubject ?? DEFAULT_QUARANTINE_SUBJECT] : []),
  create(config, env) {
    const rules = compileRules(config.rules, env)
    const fallback: Outcome = config.default ?? 'accept'
    const subject = config.quarantineSubject ?? DEFAULT_QUARANTINE_SUBJECT
    return (ctx): StageResult => {
      const hit = firstMatch(rules, celVars(ctx))
      const decided = hit?.rule.outcome ?? fallback
      const reason = hit ? (hit.rule.reason ?? `matched rules[${hit.index}]`) : 'no rule matched (default outcome)'
      switch (decided) {
        case 'accept':
          return { type: 'continue', labels: { trust: 'accept' } }
        case 'flag':
          return { type: 'continue', labels: { trust: 'flag', trustReason: reason } }
        case 'quarantine': {
          const data = { originalType: ctx.event.type, reason, event: ctx.event }
          return { type: 'drop', reason: `quarantined: ${reason}`, emit: [emission(env, subject, ctx.event, { type: QUARANTINED_TYPE, data })] }
        }
        case 'reject':
          return { type: 'drop', reason: `rejected: ${reason}` }
      }
    }
  },
}
