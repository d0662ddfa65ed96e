// The observed catalog: which event types each instance actually sends, beside what the manifests
// declare and what the loaded pipelines map. The gaps are types that arrive but no pipeline
// handles, and types declared but never seen.
import { omniError, type Problem } from '../errors/mod.ts'
import { subjectsOverlap } from '../wire/mod.ts'
import type { ClickHouse } from './client.ts'
import { isoTime, select, tenantCondition } from './query.ts'
import type { TenantScope } from '../envelope/tenants.ts'
import type { ObservedScope } from './query-schema.ts'

/** What the mapping needs of a pipeline: its name and the subjects it consumes. */
export interface PipelineSources {
  readonly name: string
  readonly sources: readonly string[]
}

/** What the gaps need of a catalog entry. */
export interface DeclaredType {
  readonly type: string
  readonly version: number
  readonly subject: string
}

export type ObservedStatus = 'mapped' | 'unmapped'

/** One event type as one instance sent it ('' when events carried no instance). */
export interface ObservedType {
  readonly instance: string
  readonly type: string
  /** the subjects it arrived on (one per version, normally) */
  readonly subjects: readonly string[]
  readonly count: number
  /** ISO UTC, on the event's own time */
  readonly firstSeen: string
  readonly lastSeen: string
  /** loaded pipelines whose sources match one of its subjects */
  readonly mapped: readonly string[]
  readonly status: ObservedStatus
  /** whether the catalog declares one of its subjects */
  readonly declared: boolean
}

/** A catalog type no event in the scope arrived as. */
export interface NotObservedType extends DeclaredType {
  /** pipelines that would take it, if it came */
  readonly mapped: readonly string[]
}

export interface ObservedCatalog {
  readonly observed: ObservedType[]
  readonly notObserved: NotObservedType[]
}

interface Row {
  instance: string
  type: string
  subjects: string[]
  events: number | string
  first_seen: string
  last_seen: string
}

/**
 * Counts ingested events (not pipeline outputs, `emitted_by = ''`) per instance and type, and
 * sets them against the loaded pipelines and the declared catalog.
 */
export async function observedCatalog(ch: ClickHouse, scope: ObservedScope, pipelines: readonly PipelineSources[], declared: readonly DeclaredType[] = [], tenants?: TenantScope): Promise<ObservedCatalog> {
  const problems: Problem[] = []
  const where = [`emitted_by = ''`]
  const params: Record<string, unknown> = {}
  tenantCondition(tenants, where, params)
  for (const key of ['instance', 'tenant'] as const) {
    const v: unknown = scope[key]
    if (v === undefined) continue
    if (typeof v !== 'string' || v.length === 0 || v.length > 1024) {
      problems.push({ where: `scope.${key}`, message: 'must be a string of 1 to 1024 characters' })
      continue
    }
    where.push(`${key} = {${key}:String}`)
    params[key] = v
  }
  if (problems.length > 0) throw omniError('OMNI_ERR_QUERY_INVALID', 'invalid observed-catalog scope', { problems })

  const rows = await select<Row>(
    ch,
    `SELECT instance, type, groupUniqArray(subject) AS subjects, count() AS events, min(time) AS first_seen, max(time) AS last_seen
     FROM ${ch.table('omni_events')} FINAL WHERE ${where.join(' AND ')}
     GROUP BY instance, type ORDER BY instance, type`,
    params,
  )
  const mappedBy = (subjects: readonly string[]) => pipelines.filter((p) => p.sources.some((s) => subjects.some((x) => subjectsOverlap(s, x)))).map((p) => p.name).sort()
  const declaredSubjects = new Set(declared.map((d) => d.subject))
  const seenSubjects = new Set<string>()
  const observed = rows.map((r): ObservedType => {
    const subjects = [...r.subjects].sort()
    for (const s of subjects) seenSubjects.add(s)
    const mapped = mappedBy(subjects)
    return {
      instance: r.instance,
      type: r.type,
      subjects,
      count: Number(r.events),
      firstSeen: isoTime(r.first_seen),
      lastSeen: isoTime(r.last_seen),
      mapped,
      status: mapped.length > 0 ? 'mapped' : 'unmapped',
      declared: subjects.some((s) => declaredSubjects.has(s)),
    }
  })
  const notObserved = declared
    .filter((d) => !seenSubjects.has(d.subject))
    .map((d) => ({ type: d.type, version: d.version, subject: d.subject, mapped: mappedBy([d.subject]) }))
    .sort((a, b) => a.type.localeCompare(b.type) || a.version - b.version)
  return { observed, notObserved }
}
