import Type, { type Static } from 'typebox'
import type { Cartridge, StageResult } from '../../pipeline/stage.ts'
import { allMatches, celVars, compileRules } from '../util/cel.ts'
import { celExpression } from '../util/schema.ts'

const TaggingConfig = Type.Object(
  {
    rules: Type.Array(
      Type.Object(
        { when: celExpression('true when the tag applies'), tag: Type.String({ minLength: 1, maxLength: 64, description: 'the tag to add' }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 256, description: 'every rule is checked; each matching rule adds its tag' },
    ),
  },
  { additionalProperties: false },
)
type TaggingConfig = Static<typeof TaggingConfig>

export const tagging: Cartridge<TaggingConfig> = {
  id: 'persist.tagging',
  title: 'Tagging',
  description:
    'Tags events for storage and search: every rule whose CEL condition holds adds its tag to labels.tags, after the ' +
    'tags earlier stages set (each tag once, in rule order). Rules do not stop at the first match, unlike classify. ' +
    'The event data is not changed.',
  phase: 'persist',
  configSchema: TaggingConfig,
  create(config, env) {
    const rules = compileRules(config.rules, env)
    return (ctx): StageResult => {
      const before = ctx.labels['tags']
      const existing = Array.isArray(before) ? before.filter((t): t is string => typeof t === 'string') : []
      const matched = allMatches(rules, celVars(ctx)).map((r) => r.tag)
      if (matched.length === 0) return { type: 'continue' }
      return { type: 'continue', labels: { tags: [...new Set([...existing, ...matched])] } }
    }
  },
}
