import { Compile } from 'typebox/compile'
import { PROVIDER_META_KEY, type Envelope, type Visibility } from '../envelope/schema.ts'
import { schemaProblems } from '../envelope/validate.ts'
import type { FanoutTarget } from '../pipeline/executor.ts'
import type { Problem } from '../errors/mod.ts'
import { eventSubject } from '../wire/mod.ts'
import { reservedHow } from './reserved.ts'
import type { EventTypeSpec } from './schema.ts'

/** A fan-out target with its transforms compiled. */
export interface CompiledTarget extends FanoutTarget {
  readonly description: string
}

/** One event type, compiled: ready to check data and derive keys and subjects. */
export interface CatalogEntry {
  readonly type: string
  readonly version: number
  readonly producer: string
  readonly subject: string
  readonly visibility: Visibility
  readonly idempotency: readonly string[]
  readonly fanout: readonly CompiledTarget[]
  readonly description: string
  /** where in which file the entry was declared */
  readonly declaredAt: string
  /** the data fields the schema lists, when it lists them (mappings are checked against them) */
  readonly dataFields?: readonly string[]
  /** the data fields every event of the type must carry */
  readonly requiredFields: readonly string[]
  /** set when only the node itself publishes the type (`reserved: true`, or one of NODE_EVENT_TYPES): how it does */
  readonly reserved?: string
  dataProblems(data: unknown): Problem[]
}

/** The application-owned event catalog. */
export interface EventCatalog {
  readonly entries: readonly CatalogEntry[]
  get(type: string): CatalogEntry | undefined
  bySubject(subject: string): CatalogEntry | undefined
}

/** Compiles one declared event type. */
export function compileEntry(spec: EventTypeSpec, producer: string, declaredAt: string, fanout: readonly CompiledTarget[]): CatalogEntry {
  const required = [...new Set([...((spec.schema?.['required'] as string[] | undefined) ?? []), ...(spec.required ?? [])])]
  const properties = spec.schema?.['properties'] as Record<string, unknown> | undefined
  const schema = {
    type: 'object',
    ...(spec.schema ?? {}),
    ...(properties ? { properties: { ...properties, [PROVIDER_META_KEY]: { type: 'object' } } } : {}),
    ...(required.length > 0 ? { required } : {}),
  }
  const validator = Compile(schema as never)
  const prod = spec.producer ?? producer
  const reserved = reservedHow(spec.type, spec.reserved)
  return {
    type: spec.type,
    version: spec.version,
    producer: prod,
    subject: eventSubject(prod, spec.type, spec.version),
    visibility: spec.visibility ?? 'local',
    idempotency: spec.idempotency,
    fanout,
    description: spec.description ?? '',
    declaredAt,
    ...(properties ? { dataFields: Object.keys(properties) } : {}),
    requiredFields: required,
    ...(reserved === undefined ? {} : { reserved }),
    dataProblems: (data) => (validator.Check(data) ? [] : schemaProblems(validator.Errors(data) as never, '$.data')),
  }
}

/** Builds the lookup structure over compiled entries. */
export function createCatalog(entries: readonly CatalogEntry[]): EventCatalog {
  const byType = new Map(entries.map((e) => [e.type, e]))
  const bySubject = new Map(entries.map((e) => [e.subject, e]))
  return { entries, get: (t) => byType.get(t), bySubject: (s) => bySubject.get(s) }
}

/** Reads a dotted envelope path (`provider`, `data.message.id`). */
export function readPath(source: unknown, path: string): unknown {
  let cur: unknown = source
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
}

/**
 * Derives the idempotency key from the declared fields: `type:v1:field=value|…`. A missing
 * field is an error, because a key without it would merge distinct events.
 */
export function deriveIdempotencyKey(entry: CatalogEntry, event: Pick<Envelope, 'data'> & Partial<Envelope>): { key: string } | { problems: Problem[] } {
  const parts: string[] = []
  const problems: Problem[] = []
  for (const path of entry.idempotency) {
    const v = readPath(event, path)
    if (v === undefined || v === null || v === '') problems.push({ where: `$.${path}`, message: `is required to derive the idempotency key of ${entry.type}` })
    else parts.push(typeof v === 'object' ? JSON.stringify(v) : String(v))
  }
  if (problems.length > 0) return { problems }
  return { key: `${entry.type}.v${entry.version}:${parts.join('|')}` }
}
