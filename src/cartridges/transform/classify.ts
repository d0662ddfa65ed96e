import Type, { type Static } from 'typebox'
import type { Cartridge, StageResult } from '../../pipeline/stage.ts'
import { celVars, compileRules, firstMatch } from '../util/cel.ts'
import { celExpression, labelName } from '../util/schema.ts'
const Name = (description: string) => Type.String({ minLength: 1, maxLength: 64, description })

const ClassifyConfig = Type.Object(
  {
    rules: Type.Array(
      Type.Object({ when: celExpression('true when the event belongs to the class'), class: Name('the class to assign') }, { additionalProperties: false }),
      { minItems: 1, maxItems: 256, description: 'checked in order; the first matching rule decides' },
    ),
    default: Type.Optional(Name('class when no rule matches (default signal)')),
    label: Type.Optional(labelName('the label that receives the class (default class)')),
  },
  { additionalProperties: false },
)
type ClassifyConfig = Static<typeof ClassifyConfig>

export const classify: Cartridge<ClassifyConfig> = {
  id: 'transform.classify',
  title: 'Classify',
  description:
    'Decides how an event is treated downstream (for example notification, index or signal) and records it as a label: ' +
    'the first rule whose CEL condition holds gives the class, otherwise the default (signal). Later stages and outputs ' +
    'branch on labels.class (or the configured label name). The event data is not changed.',
  phase: 'classify',
  configSchema: ClassifyConfig,
  create(config, env) {
    const rules = compileRules(config.rules, env)
    const fallback = config.default ?? 'signal'
    const label = config.label ?? 'class'
    return (ctx): StageResult => {
      const hit = firstMatch(rules, celVars(ctx))
      return { type: 'continue', labels: { [label]: hit?.rule.class ?? fallback } }
    }
  },
}
