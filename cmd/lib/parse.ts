import { Compile } from 'typebox/compile'
import { omniError } from '../../src/errors/mod.ts'
import { PluginManifestSchema, TIERS, type Tier } from '../../src/plugins/mod.ts'
import { isoSeconds } from '../../src/util/time.ts'

const DAY_MS = 86_400_000
const DURATION_UNITS: Record<string, number> = { h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS, y: 365 * DAY_MS }

/** A count, size or port: a non-negative integer; the error names `where` (a flag or `$VAR`). */
export function parseCount(text: string, where: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${where} must be a non-negative integer, got "${text}"`)
  return n
}

/** Commander parser for a count, size or port. */
export function parseIntOption(name: string) {
  return (value: string): number => parseCount(value, name)
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 }

/** A size in bytes: `1048576`, `512MiB`, `8GiB` (binary units only, so no one guesses 1000 or 1024). */
export function parseSize(text: string, where: string): number {
  const m = /^(\d+)\s*(b|kib|mib|gib|tib)?$/i.exec(text.trim())
  const n = m ? Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] as number) : NaN
  if (!Number.isSafeInteger(n)) throw new Error(`${where} must be a size such as 1048576, 512MiB or 8GiB, got "${text}"`)
  return n
}

/** A stream byte limit: a size, or `none` (-1, as JetStream spells no limit). */
export function parseByteLimit(text: string, where: string): number {
  if (text.trim().toLowerCase() === 'none') return -1
  const n = parseSize(text, where)
  if (n < 1) throw new Error(`${where} must be a size above 0 (such as 8GiB) or none, got "${text}"`)
  return n
}

/** `days` from now, as a timestamp. */
export function daysFromNow(days: number): string {
  return isoSeconds(new Date(Date.now() + days * DAY_MS))
}

/** Commander parser for `--tier`. */
export function parseTier(flag: string) {
  return (value: string): Tier => {
    if ((TIERS as readonly string[]).includes(value)) return value as Tier
    throw omniError('OMNI_ERR_CONFIG', `${flag} "${value}" is not a tier; use one of ${TIERS.join(', ')} (least to most trusted)`)
  }
}

/**
 * Commander parser for `--expires`: a duration from now (`90d`, `12h`, `52w`, `2y`), a date
 * (`2036-01-01`, UTC midnight) or an RFC 3339 timestamp with an offset; it must lie in the future.
 */
export function parseExpiry(flag: string) {
  return (value: string): string => {
    const duration = /^(\d+)(h|d|w|y)$/.exec(value)
    let at: number
    if (duration) at = Date.now() + Number(duration[1]) * (DURATION_UNITS[duration[2] as string] as number)
    else if (/^\d{4}-\d{2}-\d{2}$/.test(value)) at = Date.parse(`${value}T00:00:00Z`)
    else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) at = Date.parse(value)
    else throw omniError('OMNI_ERR_CONFIG', `${flag} "${value}" is neither a duration (90d, 12h, 52w, 2y), a date (2036-01-01) nor a timestamp (2036-01-01T00:00:00Z)`)
    if (Number.isNaN(at)) throw omniError('OMNI_ERR_CONFIG', `${flag} "${value}" is not a real date`)
    if (at <= Date.now()) throw omniError('OMNI_ERR_CONFIG', `${flag} ${value} is not in the future`)
    return isoSeconds(new Date(at))
  }
}

/** Commander parser for `--serial`: `next` (current + 1) or a positive integer. */
export function parseSerial(value: string): number | 'next' {
  if (value === 'next') return 'next'
  const n = Number(value)
  if (Number.isSafeInteger(n) && n >= 1 && /^\d+$/.test(value)) return n
  throw omniError('OMNI_ERR_CONFIG', `--serial "${value}" must be "next" or a positive integer`)
}

// the manifest schema's own rules for an id and a version
const idSchema = Compile(PluginManifestSchema.properties.id)
const versionSchema = Compile(PluginManifestSchema.properties.version)

/** True when `value` has the shape of a plugin id (`vendor.name`). */
export function isPluginId(value: string): boolean {
  return idSchema.Check(value)
}

/** Splits `<id>@<version>`, naming the flag or argument when either part is not valid. */
export function parsePluginRef(value: string, what: string): { readonly id: string; readonly version: string } {
  const at = value.lastIndexOf('@')
  const id = at < 0 ? value : value.slice(0, at)
  const version = at < 0 ? '' : value.slice(at + 1)
  if (at < 0 || !isPluginId(id) || !versionSchema.Check(version)) {
    throw omniError('OMNI_ERR_CONFIG', `${what} "${value}" must be <id>@<version>, like acme.shout@1.0.0 (a plugin id and a semantic version)`)
  }
  return { id, version }
}
