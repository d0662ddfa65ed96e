// `node bench/sink-options.ts`: the ClickHouse sink's options measured side by side (issue 15).
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LAYOUTS } from './sink-options/layouts.ts'
import { formatSinkOptions } from './sink-options/report.ts'
import { DEFAULTS, runSinkOptions } from './sink-options/run.ts'

const HELP = `usage: node bench/sink-options.ts [options]

Loads the same generated chat events into fresh tables of each layout of the ClickHouse sink in
the embedded engine (chdb, opened as \`omni up\` opens it), times the inserts, runs the API's
queries on each layout and checks that every layout answers them alike, then sweeps batch sizes
and insert formats on smaller loads. Prints tables and writes JSON to bench/results/.

Layouts: ${LAYOUTS.map((l) => l.id).join(', ')}
(current: the product's tables as \`omni migrate\` makes them, where the product's own queries
are checked too; json: the design before migration 12, which the ratios are relative to)

options:
  --rows N          events per layout for the loads and the queries (default ${DEFAULTS.rows}; the
                    current layout writes 5 rows per event)
  --sweep-rows N    events per sweep load (default ${DEFAULTS.sweepRows}; 0 skips the sweeps)
  --batches A,B,C   batch sizes for the sweep, in events per insert (default ${DEFAULTS.batches.join(',')})
  --load-batch N    batch size of the main loads (default ${DEFAULTS.loadBatch})
  --repeat N        timed runs per query and layout; the median is reported (default ${DEFAULTS.repeat})
  --layouts A,B     only these layouts (default: all)
  --out FILE        where the JSON goes (default bench/results/sink-options-<time>.json)
  -h, --help        this text

It exits 1 when a check fails: a table not holding exactly the rows given (also after a
batch is inserted twice), or layouts answering a query differently.`

function count(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback
  const v = Number(raw)
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be a whole number of at least ${min}, got ${JSON.stringify(raw)}`)
  return v
}

async function main(): Promise<number> {
  let args
  try {
    args = parseArgs({
      options: {
        rows: { type: 'string' },
        'sweep-rows': { type: 'string' },
        batches: { type: 'string' },
        'load-batch': { type: 'string' },
        repeat: { type: 'string' },
        layouts: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`)
    return 2
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  let settings
  try {
    const layouts = args.layouts?.split(',').map((s) => s.trim())
    const unknown = layouts?.filter((l) => !LAYOUTS.some((x) => x.id === l)) ?? []
    if (unknown.length > 0) throw new Error(`--layouts: unknown layout ${unknown.join(', ')}; expected some of ${LAYOUTS.map((l) => l.id).join(', ')}`)
    settings = {
      rows: count('rows', args.rows, DEFAULTS.rows, 100),
      sweepRows: count('sweep-rows', args['sweep-rows'], DEFAULTS.sweepRows, 0),
      batches: args.batches === undefined ? DEFAULTS.batches : args.batches.split(',').map((b) => count('batches', b.trim(), 0, 1)),
      loadBatch: count('load-batch', args['load-batch'], DEFAULTS.loadBatch, 1),
      repeat: count('repeat', args.repeat, DEFAULTS.repeat, 1),
      ...(layouts ? { layouts } : {}),
      log: (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const report = await runSinkOptions(settings)
  process.stdout.write(formatSinkOptions(report))
  const out = args.out ?? join('bench', 'results', `sink-options-${report.startedAt.replace(/[:.]/g, '-')}.json`)
  await mkdir(join(out, '..'), { recursive: true })
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
  process.stdout.write(`JSON: ${out}\n`)
  return report.problems.length === 0 ? 0 : 1
}

process.exitCode = await main()
