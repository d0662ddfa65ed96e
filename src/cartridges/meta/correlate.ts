import Type, { type Static } from 'typebox'
import type { Cartridge, Emission, StageResult } from '../../pipeline/stage.ts'
import { boundedMap } from '../util/bounded-map.ts'
import { celVars, evaluateKey } from '../util/cel.ts'
import { configDuration } from '../util/duration.ts'
import { emission } from '../util/emit.ts'
import { celExpression, duration, eventSubject, eventType } from '../util/schema.ts'

/** Groups kept per stage; past this the least recently used group is forgotten. */
export const MAX_CORRELATION_GROUPS = 10_000

const CorrelateConfig = Type.Object(
  {
    type: Type.Optional(eventType('the event type to count (default: every event reaching the stage)')),
    groupBy: Type.Optional(celExpression('the group an event counts towards, a string (default event.tenant)')),
    threshold: Type.Integer({ minimum: 2, maximum: 1000, description: 'events in one group within the window that make a burst' }),
    window: duration('the sliding window'),
    emitType: eventType('type of the event synthesized for a burst, e.g. omni.burst.detected'),
    emitSubject: eventSubject('where the synthesized event is published'),
  },
  { additionalProperties: false },
)
type CorrelateConfig = Static<typeof CorrelateConfig>

interface Group {
  /** events counted in the current window, oldest first */
  readonly seen: ReadonlyArray<{ readonly at: number; readonly id: string }>
  /** the event that completed the last burst, and what it emitted */
  readonly last?: { readonly id: string; readonly emission: Emission }
}

const CONTINUE: StageResult = { type: 'continue' }

export const correlate: Cartridge<CorrelateConfig> = {
  id: 'meta.correlate',
  title: 'Burst detection',
  description:
    'Detects bursts: counts events (of one type, or all) per group within a sliding time window, and when a group ' +
    'reaches the threshold, emits one synthesized event (data: group, count, windowMs, firstEventId, lastEventId, type) ' +
    "and starts that group's count afresh. The counted events always continue unchanged. The synthesized event is " +
    'derived from the event that completed the burst, so a redelivery of that event re-emits the very same event, ' +
    'which the stream drops as a duplicate. Counts live in the memory of each worker process: with several workers ' +
    `each counts its share, and a restart forgets them. At most ${MAX_CORRELATION_GROUPS} groups are kept (least ` +
    'recently used first out); an event whose group expression fails is not counted.',
  phase: 'correlate',
  configSchema: CorrelateConfig,
  emitsTo: (config) => [config.emitSubject],
  create(config, env) {
    const windowMs = configDuration(config.window, ['window'])
    const program = config.groupBy === undefined ? undefined : env.cel(config.groupBy, ['groupBy'])
    const groups = boundedMap<Group>(MAX_CORRELATION_GROUPS)

    return (ctx): StageResult => {
      const event = ctx.event
      if (config.type !== undefined && event.type !== config.type) return CONTINUE
      let group = event.tenant
      if (program) {
        const r = evaluateKey(program, celVars(ctx))
        if (r.type === 'error') return CONTINUE
        group = r.key
      }
      const state = groups.get(group) ?? { seen: [] }
      if (state.last?.id === event.id) return { type: 'continue', emit: [state.last.emission] }

      const now = ctx.services.now()
      const seen = state.seen.filter((e) => e.at > now - windowMs)
      // a redelivered event that did not complete a burst is not counted twice
      if (!seen.some((e) => e.id === event.id)) seen.push({ at: now, id: event.id })
      if (seen.length < config.threshold) {
        groups.set(group, { ...state, seen })
        return CONTINUE
      }
      const data = {
        group,
        count: seen.length,
        windowMs,
        firstEventId: seen[0]?.id ?? event.id,
        lastEventId: event.id,
        type: config.type ?? '*',
      }
      const out = emission(env, config.emitSubject, event, { type: config.emitType, data, extra: group })
      groups.set(group, { seen: [], last: { id: event.id, emission: out } })
      return { type: 'continue', emit: [out] }
    }
  },
}
