// The ledger table: one line per scenario, the columns of issue 12 §7.
import type { LedgerLine } from './run.ts'

const HEAD = ['#', 'scenario', 'sent', 'acked', 'stored', 'rows (FINAL/OPTIMIZE)', 'outputs expected', 'outputs found', 'duplicated', 'lost', 'dead-lettered (intact)', 'notes']

export function formatLedgerTable(lines: readonly LedgerLine[]): string {
  const rows = lines.map((l) => {
    const c = l.counts
    if (!c) return [String(l.id), l.title, ...Array(HEAD.length - 3).fill('–'), `error: ${l.error ?? ''}`]
    const notes = [`${c.ackedHttp} acked by HTTP`, ...l.notes, ...(l.settled ? [] : ['did not settle']), ...Object.entries(c.detail).map(([k, v]) => `${k} ${v}`), ...Object.entries(c.unexpectedDeadLetters).map(([k, v]) => `dead-lettered though not poison: ${v}× ${k}`), ...Object.entries(c.outcomes).map(([k, v]) => `${k} ${v}`), ...Object.entries(c.outcomesAfterMark).map(([k, v]) => `after the fault ${k} ${v}`), `${l.seconds} s`]
    return [String(l.id), l.title, c.sent, c.acked, c.stored, `${c.rowsFinal}/${c.rowsOptimized}`, c.outputsExpected, c.outputsFound, c.duplicated, c.lost, `${c.deadLettered} (${c.deadLetteredIntact})`, notes.join('; ')].map(String)
  })
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(HEAD), line(HEAD.map(() => '---')), ...rows.map(line)].join('\n') + '\n'
}
