import Type, { type Static } from 'typebox'
import type { Cartridge, CartridgeEnv, StageFn, StageResult } from '../../pipeline/stage.ts'
import { emission } from '../util/emit.ts'
import { getIn, hasIn, parsePath, setIn } from '../util/path.ts'
import { commandSubject, dataPath, eventType } from '../util/schema.ts'

/** Which data a command carries: every field (the default) or the listed dotted paths. */
export function fieldsSchema() {
  return Type.Optional(Type.Array(dataPath('a dotted data path'), { minItems: 1, maxItems: 256, description: 'data fields copied into the command (default: all)' }))
}

export interface CommandSpec {
  readonly subject: string
  readonly type: string
  readonly fields?: readonly string[] | undefined
  /** top-level data values the command always carries (a preset's agent name) */
  readonly set?: Readonly<Record<string, unknown>>
}

/**
 * The stage every command route shares: the command is derived from the event (same tenant,
 * correlation; causationid = the event's id) and continues alongside it.
 */
export function commandStage(spec: CommandSpec, env: CartridgeEnv): StageFn {
  const paths = spec.fields?.map((f, i) => parsePath(f, ['fields', i]))
  return (ctx): StageResult => {
    const source = ctx.event.data
    let data: Record<string, unknown> = paths ? {} : { ...source }
    for (const p of paths ?? []) if (hasIn(source, p)) data = setIn(data, p, getIn(source, p))
    data = { ...data, ...spec.set }
    return { type: 'continue', emit: [emission(env, spec.subject, ctx.event, { type: spec.type, data })] }
  }
}

const CommandConfig = Type.Object(
  {
    subject: commandSubject('the command subject, omni.cmd.{target}.{command}.v{n}'),
    type: eventType('event type of the command, e.g. agent.reply.requested'),
    fields: fieldsSchema(),
  },
  { additionalProperties: false },
)
type CommandConfig = Static<typeof CommandConfig>

export const command: Cartridge<CommandConfig> = {
  id: 'route.command',
  title: 'Send a command',
  description:
    'Publishes a command for another service (an agent, a sender, a workflow) on an omni.cmd subject once the event ' +
    'commits, while the event itself continues. The command is a new event of the configured type, derived from the ' +
    "triggering one: it keeps its tenant and correlation id, names it as causationid, and carries the event's data " +
    '(or only the listed fields). Its id is derived too, so a redelivered event never produces a second command.',
  phase: 'route',
  configSchema: CommandConfig,
  create(config, env) {
    return commandStage({ subject: config.subject, type: config.type, fields: config.fields }, env)
  },
  emitsTo: (config) => [config.subject],
}
