/**
 * Counts one scenario's rows in the embedded ClickHouse, in a process of its own (the engine
 * binds one data folder per process, and each scenario has its own):
 *   node bench/ledger/clickhouse-child.ts <dataDir> <run> [mark]
 * Prints one JSON line: per (event number, subject), the rows seen with FINAL, then the rows
 * left after OPTIMIZE … FINAL; and the stage outcomes, by stage and status, and whether the
 * event's number is at or past `mark` (a scenario's moment, such as a revoke); and the rows by
 * subject and origin.
 */
import { openClickHouse } from '../../src/clickhouse/client.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'

const [data, run, mark] = process.argv.slice(2)
if (!data || !run) {
  process.stderr.write('usage: clickhouse-child.ts <dataDir> <run>\n')
  process.exit(2)
}

const ch = await openClickHouse(resolveClickHouseConfig({ dataDir: data, database: 'ledger' }))
const table = ch.table('omni_events')
/** rows of this run, grouped by the table's replacing key (tenant is one value here) */
async function rows(final: boolean): Promise<{ n: string; subject: string; rows: number }[]> {
  const rs = await ch.client.query({
    // by the payload, not the key: a forged key (scenario 11) is not derived from run and n
    query: `SELECT JSONExtractRaw(payload, 'n') AS n, subject, toUInt32(count()) AS rows FROM ${table} ${final ? 'FINAL' : ''} WHERE JSONExtractString(payload, 'run') = {run:String} GROUP BY n, subject`,
    query_params: { run },
    format: 'JSONEachRow',
  })
  return rs.json()
}
/** stage outcomes of this run's keyed events, by stage and status (what the plugin stages did) */
async function outcomes(): Promise<{ stage: string; status: string; late: number; rows: number }[]> {
  const rs = await ch.client.query({
    query:
      `SELECT stage, toString(status) AS status, toUInt8(toUInt64OrZero(splitByChar('|', idempotency_key)[2]) >= {mark:UInt64}) AS late, toUInt32(count()) AS rows ` +
      `FROM ${ch.table('omni_stage_outcomes')} FINAL WHERE idempotency_key LIKE {pattern:String} GROUP BY stage, status, late ORDER BY stage, status, late`,
    query_params: { pattern: `ledger.tick.v1:${run}|%`, mark: mark ? Number(mark) : Number.MAX_SAFE_INTEGER },
    format: 'JSONEachRow',
  })
  return rs.json()
}
/** rows of this run by subject, ingest origin (`mesh:<node>` on events received over the mesh) and origin node */
async function origins(): Promise<{ subject: string; origin: string; node: string; rows: number }[]> {
  const rs = await ch.client.query({
    query: `SELECT subject, origin, origin_node AS node, toUInt32(count()) AS rows FROM ${table} FINAL WHERE JSONExtractString(payload, 'run') = {run:String} GROUP BY subject, origin, node`,
    query_params: { run },
    format: 'JSONEachRow',
  })
  return rs.json()
}
const stages = await outcomes()
const byOrigin = await origins()
const final = await rows(true)
await ch.client.command({ query: `OPTIMIZE TABLE ${table} FINAL` })
const optimized = await rows(false)
process.stdout.write(`${JSON.stringify({ final, optimized, stages, origins: byOrigin })}\n`)
await ch.close()
