import Type, { type Static } from 'typebox'
import { ConfigProblem, type Cartridge, type StageResult } from '../../pipeline/stage.ts'
import { parsePath, setIn, type DataPath } from '../util/path.ts'

const Values = (description: string) => Type.Record(Type.String(), Type.Unknown(), { additionalProperties: false, description })

const EnrichConfig = Type.Object(
  {
    set: Type.Optional(Values('static values merged into data, keyed by dotted data path (e.g. "meta.source": "whatsapp"); missing objects are created')),
    tenants: Type.Optional(
      Type.Record(Type.String(), Values('values for this tenant, keyed by dotted path under `into`'), {
        additionalProperties: false,
        description: 'tenant context: values added to events of the named tenant',
      }),
    ),
    into: Type.Optional(
      Type.String({ maxLength: 256, pattern: '^([^.]+(\\.[^.]+)*)?$', description: 'data path tenant values go under (default context; "" merges them at the top of data)' }),
    ),
  },
  { additionalProperties: false },
)
type EnrichConfig = Static<typeof EnrichConfig>

type Entry = readonly [DataPath, unknown]

function entries(values: Readonly<Record<string, unknown>>, prefix: DataPath, at: readonly (string | number)[]): Entry[] {
  return Object.entries(values).map(([path, value]) => [[...prefix, ...parsePath(path, [...at, path])], value] as const)
}

export const enrich: Cartridge<EnrichConfig> = {
  id: 'transform.enrich',
  title: 'Enrich',
  description:
    'Adds context to the event data: static values for every event (`set`), and per-tenant context (`tenants`) that ' +
    'goes under data.context unless `into` names another place. Keys are dotted data paths; objects along a path are ' +
    'created as needed and existing values at the path are replaced. Static values are applied first, then the ' +
    "tenant's. The event is never changed in place: the stage returns a new data object, and each event gets its own " +
    'copy of the configured values. What it added is also set as labels.enriched (the same paths), which is stored with ' +
    "the stage's outcome.",
  phase: 'enrich',
  configSchema: EnrichConfig,
  create(config) {
    if (config.set === undefined && config.tenants === undefined) throw new ConfigProblem([], 'nothing to add: give `set`, `tenants` or both')
    const into = config.into === undefined ? ['context'] : config.into === '' ? [] : parsePath(config.into, ['into'])
    const always = entries(config.set ?? {}, [], ['set'])
    const byTenant = new Map<string, Entry[]>()
    for (const [tenant, values] of Object.entries(config.tenants ?? {})) {
      byTenant.set(tenant, entries(values as Record<string, unknown>, into, ['tenants', tenant]))
    }
    return (ctx): StageResult => {
      const apply = [...always, ...(byTenant.get(ctx.event.tenant) ?? [])]
      if (apply.length === 0) return { type: 'continue' }
      // objects are copied so a later stage cannot change the configuration through the event
      const copy = (value: unknown) => (typeof value === 'object' && value !== null ? structuredClone(value) : value)
      const data = apply.reduce((d, [path, value]) => setIn(d, path, copy(value)), ctx.event.data)
      // what was added, also as labels.enriched: stored with the stage's outcome and queryable
      // (label=enriched.plan=pro), while the data itself goes on only in the outputs
      const enriched = apply.reduce<Record<string, unknown>>((d, [path, value]) => setIn(d, path, copy(value)), {})
      return { type: 'continue', data, labels: { enriched } }
    }
  },
}
