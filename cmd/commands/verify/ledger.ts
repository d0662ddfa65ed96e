import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { formatLedgerTable } from '../../../bench/ledger/report.ts'
import { DEFAULT_LEDGER_WINDOW_MS, DEFAULT_LEDGER_EVENTS, ledgerClean, runLedger, selectScenarios } from '../../../bench/ledger/run.ts'
import { SCENARIOS } from '../../../bench/ledger/scenarios.ts'
import { RESULTS_DIR } from '../../../bench/run.ts'
import { omniError } from '../../../src/errors/mod.ts'
import { parseDuration } from '../../../src/util/duration.ts'
import { parseIntOption } from '../../lib/parse.ts'
import { progressBar } from '../../lib/progress.ts'

interface LedgerCliOptions {
  scenarios?: string
  events?: number
  duplicateWindow?: string
  ledger?: string
  json?: string | boolean
}

export function registerLedger(verify: Command): void {
  verify
    .command('ledger')
    .description(
      'Run the fault scenarios while events flow, each on its own fresh nats-server (three routed ones for the cluster scenario, a hub and two leaves for the mesh ones), platform process and embedded ClickHouse; ' +
        'record every acknowledged event in a JSONL ledger, then reconcile it against the stream, the outputs, omni_events ' +
        '(FINAL and after OPTIMIZE) and the dead letters. Prints one line per scenario; exit 1 if any scenario lost or duplicated anything.',
    )
    .option('--scenarios <list>', `comma-separated scenario numbers (default all): ${SCENARIOS.map((s) => `${s.id} ${s.title}`).join('; ')}`)
    .option('--events <n>', `events per scenario (default ${DEFAULT_LEDGER_EVENTS})`, parseIntOption('--events'))
    .option('--duplicate-window <duration>', `the events stream's duplicate window for scenarios 4 and 5, which are defined by it, e.g. 5s (default ${DEFAULT_LEDGER_WINDOW_MS / 1000}s; the others keep the platform's default, 10 min)`)
    .option('--ledger <file>', 'the JSONL ledger of acknowledged events (default bench/results/ledger-<date>.jsonl)')
    .option('--json [file]', 'print the results as JSON (to the file if given) instead of the table')
    .addHelpText('after', '\nRuns only on this machine (loopback, temp folders); see docs/ledger.md for the columns and each scenario.')
    .action(async (opts: LedgerCliOptions) => {
      const scenarios = opts.scenarios === undefined ? undefined : parseScenarios(opts.scenarios)
      if (opts.events !== undefined && opts.events < 10) throw omniError('OMNI_ERR_CONFIG', `--events must be at least 10 (each scenario faults at a third of its events), got ${opts.events}`)
      selectScenarios(scenarios) // unknown numbers fail before anything starts
      const ledgerFile = opts.ledger ?? join(RESULTS_DIR, `ledger-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`)
      mkdirSync(dirname(ledgerFile), { recursive: true })
      let bar: ReturnType<typeof progressBar> | undefined
      const lines = await runLedger({
        ...(scenarios ? { scenarios } : {}),
        ...(opts.events !== undefined ? { events: opts.events } : {}),
        ...(opts.duplicateWindow !== undefined ? { duplicateWindowMs: windowOf(opts.duplicateWindow) } : {}),
        ledgerFile,
        progress: (done, total, title) => {
          bar ??= progressBar('scenarios', total)
          bar.update(done)
          if (done === total) bar.stop()
          else if (!process.stderr.isTTY) process.stderr.write(`scenario ${done + 1}/${total}: ${title}\n`)
        },
      })
      const json = `${JSON.stringify({ ledger: ledgerFile, scenarios: lines }, null, 2)}\n`
      if (typeof opts.json === 'string') writeFileSync(opts.json, json)
      else if (opts.json === true) process.stdout.write(json)
      if (opts.json !== true) process.stdout.write(`\n${formatLedgerTable(lines)}ledger: ${ledgerFile}\n`)
      if (!ledgerClean(lines)) process.exitCode = 1
    })
}

function parseScenarios(text: string): number[] {
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean)
  const bad = ids.filter((s) => !/^\d+$/.test(s))
  if (bad.length > 0 || ids.length === 0) throw omniError('OMNI_ERR_CONFIG', `--scenarios must be numbers separated by commas, got "${text}"`)
  return ids.map(Number)
}

function windowOf(text: string): number {
  try {
    const ms = parseDuration(text)
    if (ms >= 1000) return ms
  } catch {
    // reported below with the flag's name
  }
  throw omniError('OMNI_ERR_CONFIG', `--duplicate-window must be a duration of at least 1s such as 5s or 2m, got "${text}"`)
}
