import t from 'tap'
import { rawRow } from '../../src/clickhouse/raw-archive.ts'
import { createBatchWriter } from '../../src/clickhouse/writer.ts'
import { openTestClickHouse, rows } from '../fixtures/clickhouse.ts'

const payload = {
  provider: 'whatsapp',
  instance: 'phone-1',
  tenant: 'default',
  contentType: 'application/json',
  headers: { 'Content-Type': 'application/json', Authorization: 'Bearer abc', 'X-Hub-Signature-256': 'sha256=x', 'X-Evolution-Token': 't0k' },
  body: '{"event":"messages.upsert","data":{"key":{"id":"m1"}}}',
  receivedAt: Date.UTC(2026, 10, 22, 4, 0, 0),
}

t.test('a raw payload is archived once per delivery, credentials never', async (t) => {
  const ch = await openTestClickHouse(t)
  const w = createBatchWriter(ch, { table: 'omni_raw_payloads', flushMs: 5 })
  t.teardown(() => w.close())
  const a = rawRow(payload)
  const retry = rawRow({ ...payload, receivedAt: payload.receivedAt + 5000 })
  t.equal(a.dataref, retry.dataref, 'a provider retry of the same body has the same reference')
  t.match(a.dataref, /^raw:[A-Za-z0-9_-]{32}$/)
  t.not(rawRow({ ...payload, instance: 'phone-2' }).dataref, a.dataref, 'another instance is another payload')
  t.same((await w.write([a.row])).type, 'written')
  t.same((await w.write([retry.row])).type, 'written')
  const stored = await rows<{ raw_id: string; body: string; headers: Record<string, string>; size: number; sha256: string }>(ch, `SELECT raw_id, body, headers, size, sha256 FROM ${ch.table('omni_raw_payloads')} FINAL`)
  t.equal(stored.length, 1, 'archived once')
  t.equal(stored[0]?.body, payload.body, 'the body exactly as received')
  t.equal(stored[0]?.size, Buffer.byteLength(payload.body))
  t.same(stored[0]?.headers, { 'content-type': 'application/json', authorization: '[redacted]', 'x-hub-signature-256': '[redacted]', 'x-evolution-token': '[redacted]' }, 'credential headers are redacted')
})
