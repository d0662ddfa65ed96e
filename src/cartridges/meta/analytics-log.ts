import Type, { type Static } from 'typebox'
import type { Cartridge, StageResult } from '../../pipeline/stage.ts'
import { labelName } from '../util/schema.ts'

/** Distinct event types counted; further types are added up under OTHER_TYPES. */
export const MAX_ANALYTICS_TYPES = 10_000
export const OTHER_TYPES = '(other)'

// One table for the whole process: the count is per worker process, across its pipelines.
const counts = new Map<string, number>()

/** Events counted per type by every meta.analytics.log stage in this process, since it started. */
export function analyticsSnapshot(): Record<string, number> {
  return Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

const AnalyticsConfig = Type.Object(
  {
    label: Type.Optional(labelName('label that receives the time the stage saw the event, in ms since the epoch (default seen)')),
  },
  { additionalProperties: false },
)
type AnalyticsConfig = Static<typeof AnalyticsConfig>

export const analyticsLog: Cartridge<AnalyticsConfig> = {
  id: 'meta.analytics.log',
  title: 'Analytics log',
  description:
    'Counts events per type in the memory of the worker process and stamps each event with the time it was seen ' +
    '(labels.seen, in milliseconds since the epoch, unless another label is named). Only first deliveries are counted, ' +
    'so retries do not inflate the numbers. The counts are not persisted or shared between workers; the process ' +
    'exposes them through analyticsSnapshot(). It never changes or drops an event.',
  phase: 'meta',
  configSchema: AnalyticsConfig,
  create(config) {
    const label = config.label ?? 'seen'
    return (ctx): StageResult => {
      if (ctx.attempt === 1) {
        const type = counts.has(ctx.event.type) || counts.size < MAX_ANALYTICS_TYPES ? ctx.event.type : OTHER_TYPES
        counts.set(type, (counts.get(type) ?? 0) + 1)
      }
      return { type: 'continue', labels: { [label]: ctx.services.now() } }
    }
  },
}
