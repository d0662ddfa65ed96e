import type { Problem } from '../errors/mod.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import type { YamlManifest } from '../yaml/yaml.ts'
import { buildTransforms, type CartridgeLookup } from '../pipeline/stage-builder.ts'
import { compileEntry, type CatalogEntry, type CompiledTarget } from './catalog.ts'
import { CatalogManifestSchema, type CatalogManifest } from './schema.ts'

const ENVELOPE_KEY_FIELDS = new Set(['source', 'type', 'tenant', 'instance', 'provider', 'actor', 'conversation', 'subject'])

/** Validates a `kind: EventCatalog` manifest and compiles its entries; reports every problem. */
export function compileCatalogManifest(manifest: YamlManifest, lookup: CartridgeLookup): { entries: CatalogEntry[]; problems: Problem[] } {
  const problems = checkAgainstSchema(manifest, CatalogManifestSchema, manifest.value)
  if (problems.length > 0) return { entries: [], problems }
  const spec = manifest.value as CatalogManifest
  const entries: CatalogEntry[] = []
  spec.events.forEach((ev, i) => {
    const at = ['events', i] as const
    const before = problems.length
    ev.idempotency.forEach((path, j) => {
      if (!path.startsWith('data.') && !ENVELOPE_KEY_FIELDS.has(path)) {
        problems.push(problemAt(manifest, [...at, 'idempotency', j], `"${path}" is neither data.<field> nor one of ${[...ENVELOPE_KEY_FIELDS].join(', ')}`))
      }
    })
    const targets: CompiledTarget[] = []
    const seen = new Set<string>()
    ;(ev.fanout ?? []).forEach((target, j) => {
      if (seen.has(target.subject)) problems.push(problemAt(manifest, [...at, 'fanout', j, 'subject'], `conflicting fan-out: "${target.subject}" is listed twice`))
      seen.add(target.subject)
      const transforms = buildTransforms(manifest, [...at, 'fanout', j, 'transform'], target.transform ?? [], lookup, { pipeline: 'catalog', stage: ev.type }, problems)
      targets.push({ subject: target.subject, description: target.description ?? '', transforms })
    })
    if (problems.length > before) return
    try {
      entries.push(compileEntry(ev, spec.producer, manifest.locate([...at]), targets))
    } catch (err) {
      problems.push(problemAt(manifest, [...at, 'schema'], `not a usable JSON Schema: ${err instanceof Error ? err.message : String(err)}`))
    }
  })
  return { entries, problems }
}
