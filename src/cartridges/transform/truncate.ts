import Type, { type Static } from 'typebox'
import { ConfigProblem, type Cartridge, type StageResult } from '../../pipeline/stage.ts'
import { getIn, parsePath, setIn, type DataPath } from '../util/path.ts'

const TruncateConfig = Type.Object(
  {
    fields: Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 10_000_000 }), {
      additionalProperties: false,
      minProperties: 1,
      description: 'dotted data path → maximum length in characters, suffix included (e.g. text: 280)',
    }),
    suffix: Type.Optional(Type.String({ maxLength: 16, description: 'appended to a cut string, counted within the maximum (default "…")' })),
  },
  { additionalProperties: false },
)
type TruncateConfig = Static<typeof TruncateConfig>

export const truncate: Cartridge<TruncateConfig> = {
  id: 'transform.truncate',
  title: 'Truncate',
  description:
    'Shortens long strings at the given data paths so that each is at most its maximum number of characters, ending ' +
    'in the suffix ("…" unless configured) when it was cut. Lengths count Unicode code points, so an emoji is never ' +
    'split in half. Values that are absent or not strings are left alone, and the input event is not modified.',
  phase: 'project',
  configSchema: TruncateConfig,
  create(config) {
    const suffix = config.suffix ?? '…'
    const suffixLength = [...suffix].length
    const fields: Array<readonly [DataPath, number]> = Object.entries(config.fields).map(([path, max]) => {
      if (max < suffixLength) throw new ConfigProblem(['fields', path], `maximum ${max} is shorter than the suffix "${suffix}"`)
      return [parsePath(path, ['fields', path]), max] as const
    })
    return (ctx): StageResult => {
      let data = ctx.event.data
      for (const [path, max] of fields) {
        const value = getIn(data, path)
        if (typeof value !== 'string' || value.length <= max) continue
        const chars = [...value]
        if (chars.length <= max) continue
        data = setIn(data, path, chars.slice(0, max - suffixLength).join('') + suffix)
      }
      return data === ctx.event.data ? { type: 'continue' } : { type: 'continue', data }
    }
  },
}
