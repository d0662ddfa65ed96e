// The human tables of a sink-options run: loads, queries, sweeps and the binary-format probe.
import type { InsertRun } from './insert.ts'
import type { SinkOptionsReport } from './run.ts'
import { BASELINE_LAYOUT } from './layouts.ts'

type SweepKey = Pick<InsertRun, 'batchEvents' | 'format' | 'parallel'>

function table(head: readonly string[], rows: readonly (readonly string[])[], left = 1): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < left ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
}

const n = (x: number) => x.toLocaleString('en-US')
const mib = (b: number) => (b / 1048576).toFixed(1)

/** The report as text tables, figures relative to the `json` layout (the design before migration 12) where it ran. */
export function formatSinkOptions(r: SinkOptionsReport): string {
  const m = r.machine
  const out = [
    `sink options — ${m.cpus} cores, Node ${m.node}, ${m.engine}; load average (1 min) ${m.loadAverage.oneMinute.min}–${m.loadAverage.oneMinute.max} during the run (start ${m.loadAverage.start.join(' / ')}, end ${m.loadAverage.end.join(' / ')})`,
    `${n(r.settings.rows)} events per layout (${r.settings.loadBatch} a batch, JSONEachRow); sweeps of ${n(r.settings.sweepRows)} events; queries: median of ${r.settings.repeat} after one untimed run`,
    '',
    'Layouts',
    ...r.layouts.map((l) => `  ${l.id.padEnd(12)} ${l.title}`),
    '',
    'Loads (insert time only, the events generated outside the clock; layouts take turns batch by batch)',
  ]
  const base = r.loads.find((l) => l.layout === BASELINE_LAYOUT)
  out.push(
    ...table(
      ['layout', 'rows/event', 'events/s', 'vs json', 'rows/s', 'JS µs/event', 'CPU µs/event', 'insert p50 ms', 'events table', 'OPTIMIZE s', 'MiB events+outcomes', 'rows once'],
      r.loads.map((l) => [
        l.layout,
        (l.rows / l.events).toFixed(0),
        n(l.eventsPerSecond),
        base ? `${(l.eventsPerSecond / base.eventsPerSecond).toFixed(2)}×` : '',
        n(l.rowsPerSecond),
        l.jsUsPerEvent.toFixed(1),
        l.cpuUsPerEvent.toFixed(1),
        l.insertMs.p50.toFixed(1),
        `${Math.round(l.eventsTableShare * 100)}%`,
        l.optimizeSeconds.toFixed(2),
        `${mib(l.bytes.events)}+${mib(l.bytes.outcomes)}`,
        l.correct ? 'yes' : 'NO',
      ]),
    ),
  )
  const ids = r.layouts.map((l) => l.id)
  out.push('', 'Queries (ms; every layout must give the same answer; "product" is the API\'s own function on current, the product\'s layout)')
  out.push(
    ...table(
      ['query', ...ids, 'product', 'answer', 'agree'],
      r.queries.map((q) => [
        q.id,
        ...ids.map((id) => (q.byLayout[id]?.ms ?? NaN).toFixed(1)),
        q.productMs === undefined ? '' : `${q.productMs.toFixed(1)}${q.productAgrees ? '' : ' DIFFERS'}`,
        q.byLayout[ids[0] ?? '']?.answer ?? '',
        q.agree ? 'yes' : 'NO',
      ]),
    ),
  )
  if (r.sweeps.length > 0) {
    out.push('', 'Sweeps: events/s (× json) by batch size (events per insert) and format; "2 conn": the two tables\' inserts at once on two connections; layouts take turns batch by batch')
    const key = (s: SweepKey) => `${s.batchEvents} ${s.format}${s.parallel ? ' 2 conn' : ''}`
    const keys = [...new Set(r.sweeps.map(key))]
    out.push(
      ...table(
        ['layout', ...keys],
        ids.map((id) => [
          id,
          ...keys.map((k) => {
            const of = (layout: string) => r.sweeps.find((s) => s.layout === layout && key(s) === k)
            const s = of(id)
            const cur = of(BASELINE_LAYOUT)
            return s ? `${n(s.eventsPerSecond)}${cur ? ` (${(s.eventsPerSecond / cur.eventsPerSecond).toFixed(2)}×)` : ''}${s.correct ? '' : ' COUNTS WRONG'}` : ''
          }),
        ]),
      ),
    )
  }
  for (const p of r.probes) out.push('', `${p.format}: @clickhouse/client's insert() ${p.insert}; the bytes sent through client.exec: ${p.exec}`)
  out.push('', r.problems.length === 0 ? 'checks: every row landed exactly once (also after a replayed batch) and every query agreed' : `PROBLEMS:\n${r.problems.map((p) => `  ${p}`).join('\n')}`)
  return `${out.join('\n')}\n`
}
