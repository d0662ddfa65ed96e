import Type, { type Static } from 'typebox'
import type { Cartridge, StageResult } from '../../pipeline/stage.ts'
import { hasIn, parsePath, setIn } from '../util/path.ts'
import { dataPath } from '../util/schema.ts'

const RedactConfig = Type.Object(
  {
    paths: Type.Array(dataPath('a dotted path under data, e.g. text or contact.phone'), { minItems: 1, maxItems: 256, description: 'the values to hide' }),
    replacement: Type.Optional(Type.String({ maxLength: 256, description: 'what replaces each value (default "[redacted]")' })),
  },
  { additionalProperties: false },
)
type RedactConfig = Static<typeof RedactConfig>

export const redact: Cartridge<RedactConfig> = {
  id: 'transform.redact',
  title: 'Redact',
  description:
    'Replaces the values at the listed data paths with a fixed placeholder ("[redacted]" unless configured), whatever ' +
    'their type, so a preview or a wider-visibility copy of an event carries no message text, phone numbers or other ' +
    'personal data. Paths that are absent are left absent; a path runs through plain objects only (an array is ' +
    'replaced as a whole). The input event is not modified: only the objects along each path are copied.',
  phase: 'project',
  configSchema: RedactConfig,
  create(config) {
    const paths = config.paths.map((p, i) => parsePath(p, ['paths', i]))
    const replacement = config.replacement ?? '[redacted]'
    return (ctx): StageResult => {
      const present = paths.filter((p) => hasIn(ctx.event.data, p))
      if (present.length === 0) return { type: 'continue' }
      return { type: 'continue', data: present.reduce((d, p) => setIn(d, p, replacement), ctx.event.data) }
    }
  },
}
