/** Durations as configuration writes them: milliseconds, or a number with a unit. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const
type Unit = keyof typeof UNIT_MS

/** The string form of a duration, for schemas: a number followed by ms, s, m or h. */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$'
const DURATION_RE = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/

/** `'500ms' | '30s' | '1.5m' | '1h' | 250` → whole milliseconds; throws an Error on anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}: must be a non-negative number of milliseconds`)
    return Math.round(value)
  }
  if (typeof value !== 'string') throw new Error(`invalid duration ${String(value)}: expected a string such as "30s" or a number of milliseconds`)
  const m = DURATION_RE.exec(value.trim())
  if (!m) throw new Error(`invalid duration "${value}": use a number of milliseconds or a string such as 500ms, 30s, 5m, 1h`)
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] as Unit])
  if (!Number.isFinite(ms)) throw new Error(`invalid duration "${value}": too large`)
  return ms
}
