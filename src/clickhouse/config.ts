import { join } from 'node:path'
import { omniError, type Problem } from '../errors/mod.ts'

/** Where events and stage outcomes land: an embedded engine in a data folder, or a ClickHouse server by URL. */
export type ClickHouseTarget =
  | { readonly type: 'embedded'; readonly path: string }
  | { readonly type: 'server'; readonly url: string; readonly username: string; readonly password: string }

export interface ClickHouseConfig {
  readonly target: ClickHouseTarget
  readonly database: string
  /** days an event (and its stage outcomes) is kept */
  readonly eventsRetentionDays: number
  /** days a raw provider payload is kept */
  readonly rawRetentionDays: number
}

/** What a user may set (the CLI resolves flags and OMNI_* variables into it); everything optional. */
export interface ClickHouseSettings {
  readonly url?: string | undefined
  readonly username?: string | undefined
  readonly password?: string | undefined
  readonly database?: string | undefined
  readonly eventsRetentionDays?: number | string | undefined
  readonly rawRetentionDays?: number | string | undefined
  /** the node's data folder; the embedded engine lives in `<dataDir>/clickhouse` */
  readonly dataDir?: string | undefined
}

export const DEFAULT_DATABASE = 'omni'
export const DEFAULT_EVENTS_RETENTION_DAYS = 90
export const DEFAULT_RAW_RETENTION_DAYS = 30

/** Merges settings (earlier ones win), applies defaults, and reports every bad value at once. */
export function resolveClickHouseConfig(...layers: readonly ClickHouseSettings[]): ClickHouseConfig {
  const pick = <K extends keyof ClickHouseSettings>(key: K): ClickHouseSettings[K] => layers.find((l) => l[key] !== undefined)?.[key]
  const problems: Problem[] = []
  const days = (key: 'eventsRetentionDays' | 'rawRetentionDays', fallback: number): number => {
    const raw = pick(key)
    if (raw === undefined) return fallback
    const n = typeof raw === 'number' ? raw : Number(raw)
    if (!Number.isInteger(n) || n < 1 || n > 36_500) {
      problems.push({ where: `clickhouse.${key}`, message: `must be a whole number of days from 1 to 36500, got ${JSON.stringify(raw)}` })
      return fallback
    }
    return n
  }
  const database = pick('database') ?? DEFAULT_DATABASE
  // the name is interpolated into DDL (identifiers cannot be query parameters), so it is strict
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(database)) problems.push({ where: 'clickhouse.database', message: `must be letters, digits and _ (not starting with a digit), got ${JSON.stringify(database)}` })
  const url = pick('url')
  let target: ClickHouseTarget
  if (url !== undefined) {
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      problems.push({ where: 'clickhouse.url', message: `is not a URL: ${JSON.stringify(url)}` })
    }
    if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') problems.push({ where: 'clickhouse.url', message: `must be http:// or https://, got ${parsed.protocol}` })
    target = { type: 'server', url, username: pick('username') ?? 'default', password: pick('password') ?? '' }
  } else {
    target = { type: 'embedded', path: join(pick('dataDir') ?? 'data', 'clickhouse') }
  }
  const config: ClickHouseConfig = {
    target,
    database,
    eventsRetentionDays: days('eventsRetentionDays', DEFAULT_EVENTS_RETENTION_DAYS),
    rawRetentionDays: days('rawRetentionDays', DEFAULT_RAW_RETENTION_DAYS),
  }
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid ClickHouse configuration', { problems })
  return Object.freeze(config)
}

/** Where the config points, for logs and messages; never includes the password. */
export function describeTarget(target: ClickHouseTarget): string {
  if (target.type === 'embedded') return `embedded ClickHouse in ${target.path}`
  const u = new URL(target.url)
  u.password = ''
  u.username = ''
  return `ClickHouse at ${u.toString()}`
}
