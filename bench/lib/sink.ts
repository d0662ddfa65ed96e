// The embedded ClickHouse as the sink scenario uses it: in the run's temp folder, migrated like
// `omni up` does, with every insert timed so the report can say where a batch's time goes.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'
import { openClickHouse, type ClickHouse, type TableName } from '../../src/clickhouse/client.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { migrate } from '../../src/clickhouse/migrations.ts'
import { round, summarize, type LatencySummary } from './stats.ts'
import type { BenchContext } from './types.ts'

/** What the inserts into one table cost so far. */
export interface InsertStats {
  readonly batches: number
  readonly rows: number
  readonly failed: number
  /**
   * ms per insert spent on the JavaScript thread before the client yields: validating and
   * encoding the rows as JSONEachRow. The engine's own work runs on a libuv thread after that.
   */
  readonly encodeMs: LatencySummary
  /** ms per insert from the call until the engine has the rows */
  readonly insertMs: LatencySummary
  /** total ms with an insert running: beside the phase's wall time, how busy the writer was */
  readonly busyMs: number
}

/** A migrated embedded ClickHouse whose inserts are timed. */
export interface BenchClickHouse {
  /** hand this to writers: its client is the timed one */
  readonly ch: ClickHouse
  inserts(table: TableName): InsertStats
  /** rows in the table; `final` counts them as queries see them, replaced rows collapsed */
  count(table: TableName, final: boolean): Promise<number>
  close(): Promise<void>
}

/**
 * The engine binds one data folder per process, so every database of a run shares this one;
 * it lives in the run's temp folder and is removed after the scenario.
 */
export function engineDataDir(ctx: BenchContext): string {
  return join(ctx.tmpDir, 'clickhouse')
}

export async function removeEngineData(ctx: BenchContext): Promise<void> {
  await rm(engineDataDir(ctx), { recursive: true, force: true })
}

interface Samples {
  batches: number
  rows: number
  failed: number
  readonly encode: number[]
  readonly insert: number[]
}

/** Opens the embedded engine on database `database` (created and migrated). */
export async function openBenchClickHouse(ctx: BenchContext, database: string): Promise<BenchClickHouse> {
  // config.ts puts the engine in `<dataDir>/clickhouse`, which is engineDataDir()
  const opened = await openClickHouse(resolveClickHouseConfig({ database }, { dataDir: ctx.tmpDir }))
  try {
    await migrate(opened)
  } catch (err) {
    await opened.close()
    throw err
  }
  const byTable = new Map<string, Samples>()
  const samplesOf = (table: string): Samples => {
    let s = byTable.get(table)
    if (!s) byTable.set(table, (s = { batches: 0, rows: 0, failed: 0, encode: [], insert: [] }))
    return s
  }
  const target = opened.client
  const timedInsert: ClickHouseClient['insert'] = (params) => {
    const s = samplesOf(params.table)
    const t0 = performance.now()
    const pending = target.insert(params)
    const encoded = performance.now()
    return pending.then(
      (r) => {
        s.batches++
        s.rows += Array.isArray(params.values) ? params.values.length : 0
        s.encode.push(encoded - t0)
        s.insert.push(performance.now() - t0)
        return r
      },
      (err: unknown) => {
        s.failed++
        throw err
      },
    )
  }
  const client = new Proxy(target, {
    get(t, key) {
      if (key === 'insert') return timedInsert
      const v: unknown = Reflect.get(t, key, t)
      return typeof v === 'function' ? v.bind(t) : v
    },
  })
  const ch: ClickHouse = { ...opened, client }
  return {
    ch,
    inserts(table) {
      const s = samplesOf(ch.table(table))
      return {
        batches: s.batches,
        rows: s.rows,
        failed: s.failed,
        encodeMs: summarize([...s.encode]),
        insertMs: summarize([...s.insert]),
        busyMs: round(s.insert.reduce((a, b) => a + b, 0)),
      }
    },
    async count(table, final) {
      const rs = await target.query({ query: `SELECT count() AS n FROM ${ch.table(table)}${final ? ' FINAL' : ''}`, format: 'JSONEachRow' })
      const [row] = await rs.json<{ n: string | number }>()
      return Number(row?.n ?? 0)
    },
    close: () => opened.close(),
  }
}
