import Type, { type Static } from 'typebox'
import type { Cartridge } from '../../pipeline/stage.ts'
import { commandSubject } from '../util/schema.ts'
import { commandStage, fieldsSchema } from './command.ts'

/** The command type both agent presets send. */
export const AGENT_REPLY_TYPE = 'agent.reply.requested'

function agentConfig(agent: string, subject: string) {
  return Type.Object(
    {
      agent: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', maxLength: 64, description: `the agent asked to reply, set as data.agent (default ${agent})` })),
      subject: Type.Optional(commandSubject(`the command subject (default ${subject})`)),
      fields: fieldsSchema(),
    },
    { additionalProperties: false },
  )
}
type AgentConfig = Static<ReturnType<typeof agentConfig>>

/** A route.command preset: fixed command type, a default agent and subject. */
function agentPreset(p: { id: string; title: string; agent: string; subject: string; purpose: string }): Cartridge<AgentConfig> {
  return {
    id: p.id,
    title: p.title,
    description:
      `${p.purpose} It publishes an ${AGENT_REPLY_TYPE} command on ${p.subject} (configurable) with the event's data ` +
      `(or only the listed fields) and data.agent = "${p.agent}" unless another agent is named. It is route.command ` +
      'with these defaults: the command is derived from the event, so a redelivery never asks twice.',
    phase: 'route',
    configSchema: agentConfig(p.agent, p.subject),
    create(config, env) {
      return commandStage({ subject: config.subject ?? p.subject, type: AGENT_REPLY_TYPE, fields: config.fields, set: { agent: config.agent ?? p.agent } }, env)
    },
    emitsTo: (config) => [config.subject ?? p.subject],
  }
}

export const agentDefault = agentPreset({
  id: 'route.agent.default',
  title: 'Default agent reply',
  agent: 'default',
  subject: 'omni.cmd.agent.reply.v1',
  purpose: 'Asks the default agent to answer the conversation the event belongs to.',
})

export const agentPersonal = agentPreset({
  id: 'route.agent.personal',
  title: 'Personal assistant',
  agent: 'personal',
  subject: 'omni.cmd.agent.personal.v1',
  purpose: "Hands the event to the owner's personal assistant (typically notes to self and direct requests).",
})
