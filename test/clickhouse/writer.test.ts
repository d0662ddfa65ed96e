import t from 'tap'
import type { RawRow } from '../../src/clickhouse/raw-archive.ts'
import { createBatchWriter, type WriteResult } from '../../src/clickhouse/writer.ts'
import { metricsRegistry } from '../../src/observability/metrics.ts'
import { count, openTestClickHouse } from '../fixtures/clickhouse.ts'

/** a metric's value for one table, from the registry the HTTP API serves */
async function metric(name: string, table: string, extra: Record<string, string> = {}): Promise<number> {
  const m = (await metricsRegistry.getSingleMetric(name)?.get())?.values ?? []
  const hit = m.find((v) => v.labels['table'] === table && Object.entries(extra).every(([k, x]) => v.labels[k] === x))
  return hit?.value ?? 0
}


const row = (i: number, tenant = 't'): RawRow => ({
  raw_id: `r${i}`,
  received_at: '2026-11-22 04:00:00.000',
  provider: 'test',
  instance: 'i',
  tenant,
  content_type: 'application/json',
  headers: {},
  body: `{"i":${i}}`,
  sha256: 'a'.repeat(64),
  size: 7,
})

const FAST = { first: 20, max: 100 }

t.test('rows are batched by size and by time, and each write resolves once written', async (t) => {
  const ch = await openTestClickHouse(t)
  const w = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', maxRows: 10, flushMs: 50, backoffMs: FAST })
  t.teardown(() => w.close())
  const bySize = await Promise.all(Array.from({ length: 25 }, (_, i) => w.write([row(i)])))
  t.ok(bySize.every((r) => r.type === 'written'), 'all written')
  const lone = w.write([row(100)])
  t.equal(w.pending(), 1, 'a lone row waits for the flush interval')
  t.equal((await lone).type, 'written', 'and is flushed by the timer')
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_raw_payloads')} FINAL`), 26)
  t.equal(w.pending(), 0)
})

t.test('ClickHouse failing: rows wait and are retried until it recovers; nothing is lost', async (t) => {
  const ch = await openTestClickHouse(t)
  const retries: number[] = []
  let recovered = 0
  const w = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', maxRows: 50, flushMs: 10, backoffMs: FAST, onRetry: (i) => retries.push(i.attempt), onRecovered: () => recovered++ })
  t.teardown(() => w.close())
  // a detached table is a real failure of the engine: every insert into it errors
  await ch.client.command({ query: `DETACH TABLE ${ch.table('omni_raw_payloads')}` })
  const settled: WriteResult[] = []
  const writes = Array.from({ length: 120 }, (_, i) => w.write([row(i)]).then((r) => settled.push(r)))
  await new Promise((r) => setTimeout(r, 400))
  t.ok(retries.length >= 3, `the insert was retried (${retries.length} attempts so far)`)
  t.equal(settled.length, 0, 'no write resolved while ClickHouse fails')
  t.ok(w.unavailable(), 'the writer says ClickHouse is unavailable')
  t.equal(w.pending(), 120, 'every row is still held')
  const table = ch.table('omni_raw_payloads')
  t.equal(await metric('omni_clickhouse_unavailable', table), 1, 'the unavailable gauge says so')
  t.ok((await metric('omni_clickhouse_insert_failures_total', table, { kind: 'transient' })) >= 3, 'failures are counted')
  await ch.client.command({ query: `ATTACH TABLE ${ch.table('omni_raw_payloads')}` })
  await Promise.all(writes)
  t.ok(settled.every((r) => r.type === 'written'), 'every write succeeded after recovery')
  t.equal(recovered, 1, 'the recovery was reported once')
  t.equal(await metric('omni_clickhouse_unavailable', table), 0, 'the gauge is back to 0')
  t.equal(await metric('omni_clickhouse_rows_written_total', table), 120, 'and the rows are counted')
  t.notOk(w.unavailable())
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_raw_payloads')} FINAL`), 120, 'all 120 rows, once each')
})

t.test('a row refused for its content is singled out; the rest of its batch is written', async (t) => {
  const ch = await openTestClickHouse(t)
  await ch.client.command({ query: `ALTER TABLE ${ch.table('omni_raw_payloads')} ADD CONSTRAINT no_poison CHECK tenant != 'poison'` })
  const w = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', maxRows: 100, flushMs: 20, backoffMs: FAST })
  t.teardown(() => w.close())
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => w.write([row(i, i === 7 || i === 31 ? 'poison' : 't')])))
  const rejected = results.flatMap((r, i) => (r.type === 'rejected' ? [i] : []))
  t.same(rejected, [7, 31], 'exactly the two poisoned items are rejected')
  t.ok((await metric('omni_clickhouse_insert_failures_total', ch.table('omni_raw_payloads'), { kind: 'rejected' })) >= 2, 'rejections are counted apart')
  t.match(results[7], { type: 'rejected', error: /VIOLATED_CONSTRAINT/ })
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_raw_payloads')} FINAL`), 38, 'the other 38 are in')
})

t.test('closing while ClickHouse fails gives up after the close timeout and says aborted', async (t) => {
  const ch = await openTestClickHouse(t)
  const w = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', flushMs: 5, backoffMs: FAST, closeTimeoutMs: 200 })
  await ch.client.command({ query: `DETACH TABLE ${ch.table('omni_raw_payloads')}` })
  const pending = w.write([row(1)])
  await new Promise((r) => setTimeout(r, 50))
  let closed = false
  void w.closed().then(() => (closed = true))
  const closing = w.close()
  t.equal(w.close(), closing, 'the same promise on every call')
  await closing
  t.ok(closed || (await w.closed().then(() => true)), 'closed() resolves once close() is done')
  await w[Symbol.asyncDispose]()
  t.match(await pending, { type: 'aborted' }, 'the caller learns the row is not written (and must not ack)')
  t.match(await w.write([row(2)]), { type: 'aborted' }, 'a closed writer takes nothing')
  await ch.client.command({ query: `ATTACH TABLE ${ch.table('omni_raw_payloads')}` })
})

t.test('stopWaiting() bounds the wait before close: a retry asleep in a long backoff is woken and answered aborted', async (t) => {
  const ch = await openTestClickHouse(t)
  // a 10 s backoff: without the wake-up the row would wait that long
  const w = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', flushMs: 5, backoffMs: { first: 10_000, max: 10_000 }, closeTimeoutMs: 200 })
  t.teardown(() => w.close())
  await ch.client.command({ query: `DETACH TABLE ${ch.table('omni_raw_payloads')}` })
  const pending = w.write([row(1)])
  await new Promise((r) => setTimeout(r, 100))
  const started = Date.now()
  w.stopWaiting()
  t.match(await pending, { type: 'aborted' }, 'the caller learns the row is not written (and must not ack)')
  t.ok(Date.now() - started < 2000, `answered within the close timeout, not the backoff (${Date.now() - started} ms)`)
  await w.close()
  t.ok(Date.now() - started < 2000, 'and close() after it has nothing left to wait for')
  await ch.client.command({ query: `ATTACH TABLE ${ch.table('omni_raw_payloads')}` })
})

t.test('the same rows written twice are one row each (replacing key), physically after a merge', async (t) => {
  const ch = await openTestClickHouse(t)
  const w = createBatchWriter<RawRow>(ch, { table: 'omni_raw_payloads', flushMs: 5 })
  t.teardown(() => w.close())
  await w.write([row(1), row(2)])
  await w.write([row(1), row(2)])
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_raw_payloads')} FINAL`), 2, 'FINAL reads each once')
  await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table('omni_raw_payloads')} FINAL` })
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_raw_payloads')}`), 2, 'merged to one row each')
})
