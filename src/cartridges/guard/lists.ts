import Type, { type Static } from 'typebox'
import type { Envelope } from '../../envelope/schema.ts'
import { ConfigProblem, type Cartridge, type StageResult } from '../../pipeline/stage.ts'
import { compileGlobs } from '../util/glob.ts'
import { getIn, parsePath } from '../util/path.ts'

/** Envelope attributes a list can look at; anything else is read from `data.<path>`. */
const ATTRIBUTES = [
  'actor', 'conversation', 'tenant', 'instance', 'provider', 'source', 'type', 'subject', 'visibility', 'correlationid',
] as const satisfies readonly (keyof Envelope)[]
type Attribute = (typeof ATTRIBUTES)[number]

const ListConfig = Type.Object(
  {
    field: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: `what to look at: ${ATTRIBUTES.join(', ')}, or data.<path> (default actor)` }),
    ),
    values: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), {
      minItems: 1,
      maxItems: 10_000,
      description: 'exact values, or prefixes written with a trailing * (e.g. "+4930*")',
    }),
  },
  { additionalProperties: false },
)
type ListConfig = Static<typeof ListConfig>

/** Reads the configured field of an event as a string; other types count as missing. */
function fieldReader(field: string): (event: Readonly<Envelope>) => string | undefined {
  if (field.startsWith('data.')) {
    const path = parsePath(field.slice('data.'.length), ['field'])
    return (event) => {
      const v = getIn(event.data, path)
      return typeof v === 'string' ? v : undefined
    }
  }
  if (!(ATTRIBUTES as readonly string[]).includes(field)) {
    throw new ConfigProblem(['field'], `"${field}" is not one of ${ATTRIBUTES.join(', ')} and does not start with data.`)
  }
  return (event) => event[field as Attribute]
}

function listCartridge(kind: 'allow' | 'deny'): Cartridge<ListConfig> {
  const allow = kind === 'allow'
  return {
    id: `guard.${kind}list`,
    title: allow ? 'Allowlist' : 'Denylist',
    description: allow
      ? 'Lets through only events whose field (an envelope attribute such as actor or conversation, or data.<path>) ' +
        'matches one of the listed values, exactly or by a trailing-* prefix; every other event is dropped, including ' +
        'events that lack the field or hold a non-string there. Use it to restrict a pipeline to known contacts or chats.'
      : 'Drops events whose field (an envelope attribute such as actor or conversation, or data.<path>) matches one of ' +
        'the listed values, exactly or by a trailing-* prefix; everything else, including events without the field, ' +
        'continues. Use it to block spammers, bots or whole number ranges.',
    phase: 'guard',
    configSchema: ListConfig,
    create(config) {
      const field = config.field ?? 'actor'
      const read = fieldReader(field)
      const listed = compileGlobs(config.values, ['values'])
      return (ctx): StageResult => {
        const value = read(ctx.event)
        if (allow) {
          if (value === undefined) return { type: 'drop', reason: `${field} is missing (allowlist)` }
          return listed(value) ? { type: 'continue' } : { type: 'drop', reason: `${field} is not on the allowlist` }
        }
        return value !== undefined && listed(value) ? { type: 'drop', reason: `${field} is on the denylist` } : { type: 'continue' }
      }
    },
  }
}

export const allowlist = listCartridge('allow')
export const denylist = listCartridge('deny')
