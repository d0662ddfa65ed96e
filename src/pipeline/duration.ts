const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `'500ms' | '2s' | '1.5m' | '1h' | 250` → milliseconds. Throws on anything else. */
export function parseDurationMs(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}: must be a non-negative number of milliseconds`)
    return value
  }
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(value.trim())
  if (!m) throw new Error(`invalid duration "${value}": use a number of milliseconds or a string such as 500ms, 2s, 1m, 1h`)
  return Math.round(Number(m[1]) * (UNITS[m[2] as string] as number))
}
