/**
 * Counts one scenario's rows in the embedded ClickHouse, in a process of its own (the engine
 * binds one data folder per process, and each scenario has its own):
 *   node bench/ledger/clickhouse-child.ts <dataDir> <run>
 * Prints one JSON line: per (event number, subject), the rows seen with FINAL, then the rows
 * left after OPTIMIZE … FINAL.
 */
import { openClickHouse } from '../../src/clickhouse/client.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'

const [data, run] = process.argv.slice(2)
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
    query: `SELECT toString(payload.n) AS n, subject, toUInt32(count()) AS rows FROM ${table} ${final ? 'FINAL' : ''} WHERE toString(payload.run) = {run:String} GROUP BY n, subject`,
    query_params: { run },
    format: 'JSONEachRow',
  })
  return rs.json()
}
const final = await rows(true)
await ch.client.command({ query: `OPTIMIZE TABLE ${table} FINAL` })
const optimized = await rows(false)
process.stdout.write(`${JSON.stringify({ final, optimized })}\n`)
await ch.close()
