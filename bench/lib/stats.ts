/** Small numeric helpers for the reports. */

/** The q-quantile (0..1) of already sorted values, nearest-rank; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i] as number
}

export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** Percentiles of a list of latencies in ms (the list is sorted in place). */
export function summarize(values: number[]): LatencySummary {
  values.sort((a, b) => a - b)
  const mean = values.length === 0 ? Number.NaN : values.reduce((s, v) => s + v, 0) / values.length
  return {
    count: values.length,
    p50: round(quantile(values, 0.5)),
    p90: round(quantile(values, 0.9)),
    p99: round(quantile(values, 0.99)),
    max: round(values.at(-1) ?? Number.NaN),
    mean: round(mean),
  }
}

/** Least-squares slope of y over x (units of y per unit of x); 0 with fewer than 2 points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length
  if (n < 2) return 0
  let sx = 0
  let sy = 0
  for (const [x, y] of points) {
    sx += x
    sy += y
  }
  const mx = sx / n
  const my = sy / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

/** Rounds to `digits` decimals (2 by default), keeping NaN as is. */
export function round(v: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

export const MB = 1024 * 1024
