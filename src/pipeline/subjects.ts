/**
 * True when some subject could match both NATS subject patterns (`*` one token, `>` the rest),
 * e.g. `omni.evt.>` and `omni.evt.ingest.x.v1`.
 */
export function subjectsOverlap(a: string, b: string): boolean {
  const ta = a.split('.')
  const tb = b.split('.')
  for (let i = 0; ; i++) {
    const x = ta[i]
    const y = tb[i]
    if (x === '>' || y === '>') return x !== undefined && y !== undefined
    if (x === undefined || y === undefined) return x === y
    if (x !== '*' && y !== '*' && x !== y) return false
  }
}
