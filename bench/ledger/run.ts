// `omni verify ledger`: runs the chosen scenarios one after another, each on a fresh server and
// data folder, then reconciles its ledger and returns one line per scenario.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { omniError } from '../../src/errors/mod.ts'
import { meshIngestOrigin } from '../../src/mesh/receiver.ts'
import { openContext } from './context.ts'
import { Ledger } from './ledger.ts'
import { MESH_RECEIVED, meshSourcesSupported } from './mesh.ts'
import { reconcile, type LedgerCounts } from './reconcile.ts'
import { MESH_CATCH_UP_MS, SCENARIOS } from './scenarios.ts'

export const DEFAULT_LEDGER_EVENTS = 5000
export const DEFAULT_LEDGER_WINDOW_MS = 5000
/** how a mesh scenario's line begins when this build's pipelines cannot take mesh sources yet */
export const MESH_UNSUPPORTED = 'mesh pipeline sources are not supported by this build'

export interface LedgerOptions {
  /** scenario numbers to run (default all) */
  readonly scenarios?: readonly number[]
  /** events per scenario */
  readonly events?: number
  /** the events stream's duplicate window for these runs */
  readonly duplicateWindowMs?: number
  /** the JSONL ledger file (appended to); none when absent */
  readonly ledgerFile?: string
  readonly progress?: (done: number, total: number, title: string) => void
}

export interface LedgerLine {
  readonly id: number
  readonly title: string
  /** what went wrong running the scenario, if it could not finish */
  readonly error?: string
  readonly counts?: LedgerCounts
  readonly settled?: boolean
  readonly notes: readonly string[]
  readonly measured?: Readonly<Record<string, number>>
  readonly seconds: number
}

/** True when every scenario that ran lost nothing, duplicated nothing and settled. */
export function ledgerClean(lines: readonly LedgerLine[]): boolean {
  // a received copy naming another origin than the node it came from fails a mesh scenario too
  return lines.every((l) => (l.error === undefined && l.settled === true && l.counts?.lost === 0 && l.counts.duplicated === 0 && !Object.keys(l.counts.detail).some((k) => k.startsWith('origin.'))))
}

export function selectScenarios(ids: readonly number[] | undefined): typeof SCENARIOS {
  if (!ids) return SCENARIOS
  const unknown = ids.filter((id) => !SCENARIOS.some((s) => s.id === id))
  if (unknown.length > 0) throw omniError('OMNI_ERR_CONFIG', `--scenarios: no scenario ${unknown.join(', ')}; they are numbered 1 to ${SCENARIOS.length}`, { permanent: true })
  return SCENARIOS.filter((s) => ids.includes(s.id))
}

export async function runLedger(opts: LedgerOptions = {}): Promise<LedgerLine[]> {
  const chosen = selectScenarios(opts.scenarios)
  const events = opts.events ?? DEFAULT_LEDGER_EVENTS
  const window = opts.duplicateWindowMs ?? DEFAULT_LEDGER_WINDOW_MS
  const ledger = new Ledger(opts.ledgerFile)
  const lines: LedgerLine[] = []
  for (const [i, s] of chosen.entries()) {
    opts.progress?.(i, chosen.length, s.title)
    const started = performance.now()
    const seconds = () => Math.round((performance.now() - started) / 100) / 10
    if (s.mesh) {
      const probe = mkdtempSync(join(tmpdir(), 'omni-ledger-probe-'))
      const support = await meshSourcesSupported(probe).finally(() => rmSync(probe, { recursive: true, force: true }))
      if (!support.ok) {
        lines.push({ id: s.id, title: s.title, error: `${MESH_UNSUPPORTED}: ${support.why}`, notes: [], seconds: seconds() })
        continue
      }
    }
    const ctx = await openContext(s.id, events, s.lowWindow ? window : undefined, ledger, { mesh: s.mesh === true, cluster: s.cluster === true })
    // interrupted: stop this scenario's processes and remove its folder before exiting
    const interrupted = () => void ctx.close().finally(() => process.exit(130))
    process.once('SIGINT', interrupted)
    process.once('SIGTERM', interrupted)
    try {
      await s.run(ctx)
      // the mesh scenarios have already waited for a2 to catch up; the same bound again for the pipeline
      const settled = await ctx.settle(Math.max(s.mesh ? MESH_CATCH_UP_MS : 60_000, events * 20))
      // the platform stops before ClickHouse is read: one process per embedded data folder
      await ctx.stopPlatforms()
      const processing = ctx.mesh ? { processing: { ...ctx.processing, received: MESH_RECEIVED, origin: 'a1', rowOrigin: meshIngestOrigin('a1') } } : {}
      const counts = await reconcile({ run: ctx.run, sent: ctx.sent(), ledger: ledger.of(ctx.run), js: ctx.js, jsm: ctx.jsm, data: ctx.data, ...processing, ...(ctx.marked() === undefined ? {} : { mark: ctx.marked() as number }) })
      lines.push({ id: s.id, title: s.title, counts, settled, notes: ctx.notes, measured: ctx.measured, seconds: seconds() })
    } catch (err) {
      lines.push({ id: s.id, title: s.title, error: err instanceof Error ? err.message : String(err), notes: ctx.notes, seconds: seconds() })
    } finally {
      process.off('SIGINT', interrupted)
      process.off('SIGTERM', interrupted)
      await ctx.close()
    }
  }
  opts.progress?.(chosen.length, chosen.length, 'done')
  return lines
}
