import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { MachineInfo } from './lib/machine.ts'
import type { ScenarioResult } from './lib/types.ts'

/** Everything one `omni bench` run measured, as written to the JSON file. */
export interface BenchReport {
  readonly machine: MachineInfo
  readonly settings: {
    readonly events: number
    readonly quick: boolean
    readonly latencySeconds: number
    readonly overloadSeconds: number
    readonly httpSeconds: number
    readonly warmupSeconds: number
    readonly server: { readonly managed: boolean; readonly url: string; readonly syncInterval?: string }
    readonly nodeFlags: readonly string[]
    /** the folder of CPU profiles, when the run was profiled (its profiled rows ran slower) */
    readonly profileDir?: string
  }
  readonly scenarios: readonly ScenarioResult[]
  /** scenarios that threw, by id, with the message */
  readonly failures: readonly { readonly scenario: string; readonly error: string }[]
  readonly totalSeconds: number
}

const COLUMNS = ['scenario', 'events', 'seconds', 'events/s', 'ratio', 'notes'] as const

/** The human table: one line per row, notes last so the numbers line up. */
export function formatTable(report: BenchReport): string {
  const m = report.machine
  const rows = report.scenarios.map((r) => [
    r.title,
    r.events.toLocaleString('en-US'),
    r.seconds.toFixed(2),
    r.rate.toLocaleString('en-US'),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.ratioTo ?? ''}`.trim(),
    r.notes,
  ])
  const widths = COLUMNS.map((c, i) => (i === COLUMNS.length - 1 ? 0 : Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length))))
  const numeric = new Set([1, 2, 3])
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  const out = [
    `omni bench — ${m.cpuModel}, ${m.cores} cores, Node ${m.node}, nats-server ${m.natsServer}, ${m.date}`,
    '',
    line(COLUMNS),
    line(COLUMNS.map((_, i) => '-'.repeat(i === COLUMNS.length - 1 ? 5 : (widths[i] ?? 0)))),
    ...rows.map(line),
  ]
  for (const f of report.failures) out.push(`FAILED ${f.scenario}: ${f.error}`)
  out.push('', `total ${report.totalSeconds.toFixed(1)} s`)
  return `${out.join('\n')}\n`
}

/** Writes the report as pretty JSON, creating the folder. */
export async function writeReport(report: BenchReport, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`)
}
