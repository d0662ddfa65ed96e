const CANONICAL_UTC = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/

/**
 * `2026-11-22T04:00:00.123456Z` → `2026-11-22 04:00:00.123`, the DateTime64(3) text form. Envelope
 * times are already canonical UTC, so they are cut rather than parsed: this runs for every row.
 */
export function toClickHouseTime(iso: string | number | Date): string {
  if (typeof iso === 'string') {
    const m = CANONICAL_UTC.exec(iso)
    if (m) return `${m[1]} ${m[2]}.${((m[3] ?? '') + '000').slice(0, 3)}`
  }
  if (typeof iso === 'number') return fromMillis(iso)
  const d = iso instanceof Date ? iso : new Date(iso)
  return d.toISOString().slice(0, 23).replace('T', ' ')
}

/** The last millisecond converted: rows recorded in one batch, deliveries of one busy moment, share it. */
let last: { readonly ms: number; readonly text: string } = { ms: Number.NaN, text: '' }
function fromMillis(ms: number): string {
  if (ms !== last.ms) last = { ms, text: new Date(ms).toISOString().slice(0, 23).replace('T', ' ') }
  return last.text
}
