import Type, { type Static } from 'typebox'
import type { Cartridge, StageResult } from '../../pipeline/stage.ts'
import { getIn, parsePath } from '../util/path.ts'
import { dataPath } from '../util/schema.ts'

const SelfRouteConfig = Type.Object(
  {
    field: Type.Optional(dataPath('data path of the boolean that marks a message the account sent itself (default fromSelf)')),
    action: Type.Optional(
      Type.Union([Type.Literal('ignore'), Type.Literal('label')], { description: 'ignore drops self-sent events; label marks them with labels.selfSent (default ignore)' }),
    ),
  },
  { additionalProperties: false },
)
type SelfRouteConfig = Static<typeof SelfRouteConfig>

export const selfRoute: Cartridge<SelfRouteConfig> = {
  id: 'guard.self_route',
  title: 'Self-sent messages',
  description:
    'Handles messages the connected account sent itself (notes to self, echoes of outgoing replies), recognised by a ' +
    'boolean in the data (data.fromSelf unless configured). With action ignore they are dropped, which also keeps an ' +
    'agent from answering its own replies; with action label they continue with labels.selfSent = true (false for ' +
    'everything else) so later stages, such as a personal-assistant route, can pick them out. Only the value true counts.',
  phase: 'guard',
  configSchema: SelfRouteConfig,
  create(config) {
    const path = parsePath(config.field ?? 'fromSelf', ['field'])
    const action = config.action ?? 'ignore'
    return (ctx): StageResult => {
      const self = getIn(ctx.event.data, path) === true
      if (action === 'label') return { type: 'continue', labels: { selfSent: self } }
      return self ? { type: 'drop', reason: 'self-sent' } : { type: 'continue' }
    }
  },
}
