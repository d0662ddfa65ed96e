// Loading layouts' fresh tables with the same events, one batch at a time as the product's writer
// does (one insert per table per batch, one insert running at a time), timed per batch. Rows are
// generated outside the clock; turning them into the layout's rows is inside it, since a writer
// for that layout would do it. Counts are checked after the load, and again after the first
// batch is inserted a second time as a redelivery writes it (the outcomes under the next
// attempt): the replacing keys must collapse it.
import { Readable } from 'node:stream'
import { performance } from 'node:perf_hooks'
import { SupportedJSONFormats, SupportedRawFormats } from '@clickhouse/client'
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { eventRowsOf, insertSettings, outcomeRowsOf, OUTCOME_TABLE, type Layout } from './layouts.ts'
import type { EventRows } from './events.ts'

export const FORMATS = ['JSONEachRow', 'JSONCompactEachRow'] as const
export type InsertFormat = (typeof FORMATS)[number]

export interface TableCounts {
  readonly expected: number
  /** count(): every row inserted */
  readonly stored: number
  /** count() FINAL: what queries see */
  readonly final: number
  /** count() FINAL after the first batch was inserted again */
  readonly finalAfterReplay: number
}

export interface InsertRun {
  readonly layout: string
  readonly format: InsertFormat
  readonly batchEvents: number
  readonly events: number
  readonly rows: number
  /** the time spent inside inserts (generation excluded) */
  readonly seconds: number
  readonly eventsPerSecond: number
  readonly rowsPerSecond: number
  /** µs per event the JavaScript thread was busy (row mapping and encoding) */
  readonly jsUsPerEvent: number
  /** µs of process CPU per event, every thread (the engine's included) */
  readonly cpuUsPerEvent: number
  readonly insertMs: { readonly p50: number; readonly max: number }
  /** of `seconds`, the share spent in the events table's inserts (the rest: the outcomes table's) */
  readonly eventsTableShare: number
  /** both tables' inserts ran at once, each on a connection of its own */
  readonly parallel: boolean
  readonly counts: { readonly events: TableCounts; readonly outcomes: TableCounts }
  /** every table holds exactly the rows it was given, before and after the replay */
  readonly correct: boolean
}

async function insertRows(ch: ClickHouse, table: string, rows: Record<string, unknown>[], format: InsertFormat, settings: Record<string, 0 | 1>): Promise<void> {
  if (rows.length === 0) return
  if (format === 'JSONEachRow') {
    await ch.client.insert({ table, values: rows, format, clickhouse_settings: settings })
    return
  }
  const columns = Object.keys(rows[0] as object)
  const values = rows.map((r) => columns.map((c) => r[c]))
  await ch.client.insert({ table, values, format, columns: columns as [string, ...string[]], clickhouse_settings: settings })
}

async function count(ch: ClickHouse, table: string, final: boolean): Promise<number> {
  const rs = await ch.client.query({ query: `SELECT count() AS n FROM ${table}${final ? ' FINAL' : ''}`, format: 'JSONEachRow' })
  const [row] = await rs.json<{ n: string | number }>()
  return Number(row?.n ?? 0)
}

/** One layout's tables being loaded: batches are timed one by one, so loads can take turns. */
export interface Loader {
  readonly layout: Layout
  /** inserts one batch into the layout's tables (one insert per table), timed */
  add(batch: readonly EventRows[]): Promise<void>
  /** counts the rows, inserts `replay` a second time as a redelivery (outcomes under the next attempt), counts again */
  finish(replay: readonly EventRows[]): Promise<InsertRun>
}

/**
 * `second`: another connection to the same engine; when given, the two tables' inserts of a batch
 * run at once, one on each (chdb runs one statement at a time per connection).
 */
export function createLoader(ch: ClickHouse, layout: Layout, format: InsertFormat, second?: ClickHouse): Loader {
  const eventsTable = ch.table('omni_events')
  const outcomesTable = `${ch.config.database}.${OUTCOME_TABLE[layout.outcomes]}`
  const settings = insertSettings(layout)
  let events = 0
  let batchEvents = 0
  let jsMs = 0
  let cpuUs = 0
  let eventRowCount = 0
  let outcomeRowCount = 0
  const spans: number[] = []
  let eventsMs = 0
  const timed = async (p: Promise<void>) => {
    const t0 = performance.now()
    await p
    return performance.now() - t0
  }
  return {
    layout,
    async add(batch) {
      const elu = performance.eventLoopUtilization()
      const cpu = process.cpuUsage()
      const t0 = performance.now()
      const eventRows = eventRowsOf(layout, batch)
      const outcomeRows = outcomeRowsOf(layout, batch)
      if (second) {
        const [e] = await Promise.all([timed(insertRows(ch, eventsTable, eventRows, format, settings)), insertRows(second, outcomesTable, outcomeRows, format, {})])
        eventsMs += e
      } else {
        eventsMs += await timed(insertRows(ch, eventsTable, eventRows, format, settings))
        await insertRows(ch, outcomesTable, outcomeRows, format, {})
      }
      spans.push(performance.now() - t0)
      const used = process.cpuUsage(cpu)
      jsMs += performance.eventLoopUtilization(elu).active
      cpuUs += used.user + used.system
      events += batch.length
      batchEvents = Math.max(batchEvents, batch.length)
      eventRowCount += eventRows.length
      outcomeRowCount += outcomeRows.length
    },
    async finish(replay) {
      const before = {
        events: { stored: await count(ch, eventsTable, false), final: await count(ch, eventsTable, true) },
        outcomes: { stored: await count(ch, outcomesTable, false), final: await count(ch, outcomesTable, true) },
      }
      // a redelivery: the same event rows, the outcomes again under the next attempt
      const again = replay.map((e) => ({ ...e, outcomes: e.outcomes.map((o) => ({ ...o, attempt: o.attempt + 1 })) }))
      await insertRows(ch, eventsTable, eventRowsOf(layout, again), format, settings)
      await insertRows(ch, outcomesTable, outcomeRowsOf(layout, again), format, {})
      const counts = {
        events: { expected: eventRowCount, ...before.events, finalAfterReplay: await count(ch, eventsTable, true) },
        outcomes: { expected: outcomeRowCount, ...before.outcomes, finalAfterReplay: await count(ch, outcomesTable, true) },
      }
      const ok = (c: TableCounts) => c.stored === c.expected && c.final === c.expected && c.finalAfterReplay === c.expected
      const seconds = spans.reduce((a, b) => a + b, 0) / 1000
      const sorted = [...spans].sort((a, b) => a - b)
      return {
        layout: layout.id,
        format,
        batchEvents,
        events,
        rows: eventRowCount + outcomeRowCount,
        seconds: round(seconds, 3),
        eventsPerSecond: Math.round(events / seconds),
        rowsPerSecond: Math.round((eventRowCount + outcomeRowCount) / seconds),
        jsUsPerEvent: round((jsMs * 1000) / events, 1),
        cpuUsPerEvent: round(cpuUs / events, 1),
        insertMs: { p50: round(sorted[Math.floor(sorted.length / 2)] ?? 0, 1), max: round(sorted.at(-1) ?? 0, 1) },
        eventsTableShare: round(eventsMs / 1000 / seconds),
        parallel: second !== undefined,
        counts,
        correct: ok(counts.events) && ok(counts.outcomes),
      }
    },
  }
}

/**
 * Loads the same `events` events into every loader, `batchEvents` at a time, the loaders taking
 * turns batch by batch (who goes first rotates): on a shared machine, a change in load falls on
 * every layout alike instead of on whichever ran at that moment.
 */
export async function loadInTurns(loaders: readonly Loader[], make: (i: number) => EventRows, events: number, batchEvents: number, onBatch?: (done: number) => void): Promise<InsertRun[]> {
  let first: EventRows[] = []
  for (let start = 0, turn = 0; start < events; start += batchEvents, turn++) {
    const batch: EventRows[] = []
    for (let i = start; i < Math.min(events, start + batchEvents); i++) batch.push(make(i))
    if (start === 0) first = batch
    for (let k = 0; k < loaders.length; k++) await (loaders[(turn + k) % loaders.length] as Loader).add(batch)
    onBatch?.(Math.min(events, start + batchEvents))
  }
  const runs: InsertRun[] = []
  for (const l of loaders) runs.push(await l.finish(first))
  return runs
}

/** What became of a binary insert format on the embedded engine. */
export interface FormatProbe {
  readonly format: 'RowBinary'
  /** what `client.insert()` offers for it */
  readonly insert: string
  /** what the engine stored when the bytes went through `client.exec` (the client's raw-body path) */
  readonly exec: string
  readonly usable: boolean
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]?.slice(0, 200) ?? ''

/**
 * RowBinary on the embedded engine. `@clickhouse/client` 1.23 has no binary insert format but
 * Parquet; its `exec` sends any body. chdb's connection turns a body into a UTF-8 string before
 * the engine sees it (chdb/connection, `streamToString`), so bytes that are not UTF-8 cannot
 * survive; Native would go the same way. Three rows whose UInt64s are 2570 (bytes 0A 0A: a blank
 * line) and 128 (byte 80: not UTF-8) show what happens.
 */
export async function probeRowBinary(ch: ClickHouse): Promise<FormatProbe> {
  const table = `${ch.config.database}.rowbinary_probe`
  await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ch.config.database}` })
  await ch.client.command({ query: `CREATE TABLE IF NOT EXISTS ${table} (n UInt64, s String) ENGINE = MergeTree ORDER BY n` })
  const sent = [
    { n: 1, s: 'plain' },
    { n: 2570, s: 'blank line inside' },
    { n: 128, s: 'é not ascii' },
  ]
  const body = () =>
    Buffer.concat(
      sent.map(({ n, s }) => {
        const num = Buffer.alloc(8)
        num.writeBigUInt64LE(BigInt(n))
        const text = Buffer.from(s)
        return Buffer.concat([num, Buffer.from([text.length]), text])
      }),
    )
  // the client's own lists of what insert() takes: a binary format must be a raw one
  const formats: readonly string[] = [...SupportedJSONFormats, ...SupportedRawFormats]
  const insert = ['RowBinary', 'Native'].filter((f) => formats.includes(f)).map((f) => `takes ${f}`).join(', ') || `takes neither RowBinary nor Native (${formats.length} formats: JSON ones, text ones and Parquet)`
  await ch.client.command({ query: `TRUNCATE TABLE ${table}` })
  let exec: string
  let usable = false
  try {
    const r = await ch.client.exec({ query: `INSERT INTO ${table} FORMAT RowBinary`, values: Readable.from([body()]) })
    r.stream.resume()
    const rs = await ch.client.query({ query: `SELECT n, s FROM ${table} ORDER BY n`, format: 'JSONEachRow' })
    const got = (await rs.json<{ n: number | string; s: string }>()).map((x) => ({ n: Number(x.n), s: x.s }))
    const want = [...sent].sort((a, b) => a.n - b.n)
    usable = JSON.stringify(got) === JSON.stringify(want)
    exec = usable ? 'all 3 rows came back as sent' : `sent ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`
  } catch (err) {
    exec = `refused by the engine: ${message(err)}`
  }
  return { format: 'RowBinary', insert, exec, usable }
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
