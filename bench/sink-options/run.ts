// The sink-options experiment: every layout loaded with the same events, the API's queries run on
// each and checked to agree, then batch sizes and insert formats swept on smaller loads. One
// embedded engine (the product's openClickHouse), one database per layout.
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { openClickHouse, type ClickHouse } from '../../src/clickhouse/client.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { eventMaker } from './events.ts'
import { createLoader, FORMATS, loadInTurns, probeRowBinary, round, type FormatProbe, type InsertRun, type Loader } from './insert.ts'
import { createLayout, databaseOf, LAYOUTS, OUTCOME_TABLE, PRODUCT_LAYOUT, type Layout } from './layouts.ts'
import { querySpecs, type QuerySpec } from './query-specs.ts'
import { canonical, describeAnswer } from './queries.ts'

export interface SinkOptionsSettings {
  /** events each layout is loaded with for the queries (five rows each today) */
  readonly rows: number
  /** events per load in the batch-size and format sweeps (0: no sweeps) */
  readonly sweepRows: number
  /** batch sizes in events for the sweeps; the main loads use `loadBatch` */
  readonly batches: readonly number[]
  readonly loadBatch: number
  /** timed runs of each query per layout (the median is reported) */
  readonly repeat: number
  /** layout ids to run (default: all) */
  readonly layouts?: readonly string[]
  readonly log?: (line: string) => void
}

export const DEFAULTS = { rows: 200_000, sweepRows: 50_000, batches: [1000, 2500, 5000], loadBatch: 2500, repeat: 3 } as const

export interface LayoutLoad extends InsertRun {
  /** OPTIMIZE … FINAL of the loaded tables before the queries, in seconds */
  readonly optimizeSeconds: number
  /** on-disk bytes of the layout's tables after it */
  readonly bytes: { readonly events: number; readonly outcomes: number }
}

export interface QueryResult {
  readonly id: string
  readonly title: string
  /** layout id → median ms, every run's ms, and what the answer held */
  readonly byLayout: Record<string, { readonly ms: number; readonly runs: readonly number[]; readonly answer: string }>
  /** every layout gave the same answer */
  readonly agree: boolean
  /** the product's own function, on the product's layout (`current`), gave that answer too (when it has one) */
  readonly productAgrees?: boolean
  readonly productMs?: number
}

export interface SinkOptionsReport {
  readonly startedAt: string
  readonly finishedAt: string
  readonly machine: { readonly cpus: number; readonly node: string; readonly engine: string; readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[]; readonly oneMinute: { readonly min: number; readonly max: number } } }
  readonly settings: Omit<SinkOptionsSettings, 'log'>
  readonly layouts: readonly Layout[]
  readonly loads: readonly LayoutLoad[]
  readonly queries: readonly QueryResult[]
  readonly sweeps: readonly InsertRun[]
  readonly probes: readonly FormatProbe[]
  /** every check that failed; empty when all rows landed once and every answer agreed */
  readonly problems: readonly string[]
}

/** The same engine under another database: the product's code reads `config.database`. */
function onDatabase(ch: ClickHouse, database: string): ClickHouse {
  return { ...ch, config: { ...ch.config, database }, table: (name) => `${database}.${name}` }
}

async function tableBytes(ch: ClickHouse, table: string): Promise<number> {
  const rs = await ch.client.query({
    query: 'SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE active AND database = {db:String} AND table = {t:String}',
    query_params: { db: ch.config.database, t: table },
    format: 'JSONEachRow',
  })
  const [row] = await rs.json<{ b: string | number }>()
  return Number(row?.b ?? 0)
}

async function optimize(ch: ClickHouse, layout: Layout): Promise<number> {
  const t0 = performance.now()
  for (const table of ['omni_events', OUTCOME_TABLE[layout.outcomes]]) await ch.client.command({ query: `OPTIMIZE TABLE ${ch.config.database}.${table} FINAL` })
  return round((performance.now() - t0) / 1000, 3)
}

async function timeQuery(spec: QuerySpec, layout: Layout, ch: ClickHouse, repeat: number) {
  const runs: number[] = []
  let answer = await spec.run(layout, ch) // a first, untimed run: caches warm for every layout alike
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now()
    answer = await spec.run(layout, ch)
    runs.push(round(performance.now() - t0, 1))
  }
  const sorted = [...runs].sort((a, b) => a - b)
  return { ms: sorted[Math.floor(sorted.length / 2)] ?? 0, runs, answer }
}

/** A log line at every tenth of the way. */
function progress(log: (line: string) => void, total: number): (done: number) => void {
  let next = total / 10
  return (done) => {
    if (done < next && done < total) return
    log(`  ${done} of ${total} events`)
    next = done + total / 10
  }
}

/** Runs the whole experiment and returns its report; the caller prints and stores it. */
export async function runSinkOptions(settings: SinkOptionsSettings): Promise<SinkOptionsReport> {
  const log = settings.log ?? (() => undefined)
  const layouts = settings.layouts ? LAYOUTS.filter((l) => settings.layouts?.includes(l.id)) : LAYOUTS
  const startedAt = new Date().toISOString()
  const loadStart = loadavg().map((x) => round(x))
  // the machine is shared: the 1-minute load average through the run says how loaded it was
  const samples: number[] = [loadStart[0] ?? 0]
  const sampler = setInterval(() => samples.push(round(loadavg()[0] ?? 0)), 5000).unref()
  const dataDir = await mkdtemp(join(tmpdir(), 'omni-sink-options-'))
  const base = await openClickHouse(resolveClickHouseConfig({ database: 'sinkopt' }, { dataDir }))
  // a second connection to the same engine (same process, same folder), for the sweep that
  // inserts into both tables at once
  const second = await openClickHouse(resolveClickHouseConfig({ database: 'sinkopt' }, { dataDir }))
  const problems: string[] = []
  try {
    const engine = await base.client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' }).then((rs) => rs.json<{ v: string }>())
    const make = eventMaker(settings.rows)
    const loads: LayoutLoad[] = []
    const handles = new Map<string, ClickHouse>()
    for (const layout of layouts) {
      const ch = onDatabase(base, databaseOf(layout, 'sinkopt'))
      await createLayout(ch, layout)
      handles.set(layout.id, ch)
    }
    log(`load: ${settings.rows} events into each of ${layouts.length} layouts, ${settings.loadBatch} a batch, taking turns`)
    const loaded = await loadInTurns(
      layouts.map((l) => createLoader(handles.get(l.id) as ClickHouse, l, 'JSONEachRow')),
      make,
      settings.rows,
      settings.loadBatch,
      progress(log, settings.rows),
    )
    for (const [i, layout] of layouts.entries()) {
      const ch = handles.get(layout.id) as ClickHouse
      const run = loaded[i] as InsertRun
      const optimizeSeconds = await optimize(ch, layout)
      const bytes = { events: await tableBytes(ch, 'omni_events'), outcomes: await tableBytes(ch, OUTCOME_TABLE[layout.outcomes]) }
      loads.push({ ...run, optimizeSeconds, bytes })
      if (!run.correct) problems.push(`${layout.id}: row counts ${JSON.stringify(run.counts)}`)
    }

    const queries: QueryResult[] = []
    const current = layouts.find((l) => l.id === PRODUCT_LAYOUT)
    for (const spec of await querySpecs(make, settings.rows, handles.get(PRODUCT_LAYOUT) ?? [...handles.values()][0] ?? base)) {
      log(`query ${spec.id}`)
      const byLayout: Record<string, QueryResult['byLayout'][string]> = {}
      const answers = new Map<string, string>()
      for (const layout of layouts) {
        const t = await timeQuery(spec, layout, handles.get(layout.id) as ClickHouse, settings.repeat)
        byLayout[layout.id] = { ms: t.ms, runs: t.runs, answer: describeAnswer(t.answer) }
        answers.set(layout.id, canonical(t.answer))
      }
      const distinct = new Set(answers.values())
      const agree = distinct.size === 1
      if (!agree) problems.push(`${spec.id}: the layouts answered differently (${[...answers.entries()].map(([k, v]) => `${k}: ${v.slice(0, 300)}`).join(' | ')})`)
      let product: { productAgrees: boolean; productMs: number } | undefined
      if (current && spec.product) {
        const ch = handles.get(PRODUCT_LAYOUT) as ClickHouse
        const t0 = performance.now()
        const a = await spec.product(ch)
        product = { productMs: round(performance.now() - t0, 1), productAgrees: canonical(a) === answers.get(PRODUCT_LAYOUT) }
        if (!product.productAgrees) problems.push(`${spec.id}: the product's own query answered differently from this bench's on its own layout (current): ${canonical(a).slice(0, 300)}`)
      }
      queries.push({ id: spec.id, title: spec.title, byLayout, agree, ...(product ?? {}) })
    }
    for (const ch of handles.values()) await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.config.database} SYNC` })

    // the sweeps: smaller loads, fresh tables each, layouts interleaved so drift in the
    // machine's load spreads over all of them
    const sweeps: InsertRun[] = []
    if (settings.sweepRows > 0) {
      const sweepMake = eventMaker(settings.sweepRows, 16)
      const rounds: { batch: number; format: (typeof FORMATS)[number]; parallel?: true }[] = settings.batches.map((batch) => ({ batch, format: 'JSONEachRow' }))
      for (const format of FORMATS.filter((f) => f !== 'JSONEachRow')) rounds.push({ batch: settings.loadBatch, format })
      rounds.push({ batch: settings.loadBatch, format: 'JSONEachRow', parallel: true })
      for (const r of rounds) {
        log(`sweep: ${settings.sweepRows} events into each layout, ${r.batch} a batch, ${r.format}${r.parallel ? ', a connection per table' : ''}, taking turns`)
        const loaders: Loader[] = []
        for (const layout of layouts) {
          const ch = onDatabase(base, databaseOf(layout, 'sinkopt_sweep'))
          await createLayout(ch, layout)
          loaders.push(createLoader(ch, layout, r.format, r.parallel ? onDatabase(second, ch.config.database) : undefined))
        }
        for (const run of await loadInTurns(loaders, sweepMake, settings.sweepRows, r.batch)) {
          if (!run.correct) problems.push(`sweep ${run.layout} ${r.batch} ${r.format}: row counts ${JSON.stringify(run.counts)}`)
          sweeps.push(run)
        }
        for (const layout of layouts) await base.client.command({ query: `DROP DATABASE IF EXISTS ${databaseOf(layout, 'sinkopt_sweep')} SYNC` })
      }
    }
    const probes = [await probeRowBinary(onDatabase(base, 'sinkopt_probe'))]
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version, engine: `chdb ${engine[0]?.v ?? '?'}`, loadAverage: { start: loadStart, end: loadavg().map((x) => round(x)), oneMinute: { min: Math.min(...samples), max: Math.max(...samples) } } },
      settings: { rows: settings.rows, sweepRows: settings.sweepRows, batches: settings.batches, loadBatch: settings.loadBatch, repeat: settings.repeat, ...(settings.layouts ? { layouts: settings.layouts } : {}) },
      layouts,
      loads,
      queries,
      sweeps,
      probes,
      problems,
    }
  } finally {
    clearInterval(sampler)
    await second.close()
    await base.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}
