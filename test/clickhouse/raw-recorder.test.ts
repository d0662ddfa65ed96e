import { createHash } from 'node:crypto'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import t, { type Test } from 'tap'
import { openClickHouse, type ClickHouse } from '../../src/clickhouse/client.ts'
import type { RawPayload, RawRow } from '../../src/clickhouse/raw-archive.ts'
import { startRawRecorder, type RawRecorder } from '../../src/clickhouse/raw-recorder.ts'
import { createBatchWriter, type BatchWriter } from '../../src/clickhouse/writer.ts'
import { migrate } from '../../src/clickhouse/migrations.ts'
import { hasCode } from '../../src/errors/mod.ts'
import { archiveRaw } from '../../src/ingest/raw-archive.ts'
import { rawSubject } from '../../src/wire/mod.ts'
import { createPublisher, type Publisher } from '../../src/jetstream/publisher.ts'
import { ensureStreams, RAW_MAX_MSG_SIZE, RAW_RECORDER, RAW_STREAM, type TopologyOptions } from '../../src/jetstream/topology.ts'
import { DEFAULT_MAX_PAYLOAD } from '../../src/server/options.ts'
import { count, rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually } from '../fixtures/fabric.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

t.setTimeout(120_000)

const MiB = 1024 * 1024
const WRITER = { table: 'omni_raw_payloads', flushMs: 5, backoffMs: { first: 20, max: 200 }, closeTimeoutMs: 300 } as const

const payload: RawPayload = {
  provider: 'whatsapp',
  instance: 'phone 1.a', // not subject-safe: the subject says phone_1_a, the row the real name
  tenant: 'default',
  contentType: 'application/json',
  headers: { 'Content-Type': 'application/json', Authorization: 'Bearer abc', 'X-Hub-Signature-256': 'sha256=x', 'X-Request-Id': 'r1' },
  body: '{"event":"messages.upsert","data":{"key":{"id":"m1"}}}',
  receivedAt: Date.UTC(2026, 10, 22, 4, 0, 0),
}
const REDACTED = { 'content-type': 'application/json', authorization: '[redacted]', 'x-hub-signature-256': '[redacted]', 'x-request-id': 'r1' }

interface Harness {
  readonly nc: Awaited<ReturnType<typeof connectTest>>
  readonly jsm: Awaited<ReturnType<typeof jetstreamManager>>
  readonly js: ReturnType<typeof jetstream>
  readonly publisher: Publisher
  readonly ch: ClickHouse
  writer: BatchWriter<RawRow>
  recorder: RawRecorder
  /** a new writer and recorder, as after a restart; closed at teardown */
  restart(): Promise<void>
}

/** nats-server with the streams, ClickHouse migrated, a writer and the raw recorder; torn down in reverse. */
async function start(t: Test, topology: TopologyOptions = {}): Promise<Harness> {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  await ensureStreams(jsm, topology)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  const ch = await openClickHouse(testClickHouseConfig())
  t.teardown(() => ch.close())
  await migrate(ch)
  const h = { nc, jsm, js, publisher, ch } as Harness
  h.restart = async () => {
    const writer = createBatchWriter<RawRow>(ch, WRITER)
    const recorder = await startRawRecorder({ js, jsm, writer })
    // LIFO: the recorder closes before the writer it feeds
    t.teardown(() => writer.close())
    t.teardown(() => recorder.close())
    h.writer = writer
    h.recorder = recorder
  }
  await h.restart()
  return h
}

const table = (ch: ClickHouse) => `SELECT * FROM ${ch.table('omni_raw_payloads')} FINAL`
const consumerInfo = (h: Harness) => h.jsm.consumers.info(RAW_STREAM, RAW_RECORDER)
const settled = async (h: Harness) => {
  const info = await consumerInfo(h)
  return info.num_pending === 0 && info.num_ack_pending === 0
}

/** A webhook-like JSON body of `bytes` bytes: many quoted keys, so it grows when escaped. */
function webhookBody(bytes: number): string {
  const item = JSON.stringify({ key: { id: 'ABCDEF0123456789', remoteJid: '5511999999999@s.whatsapp.net', fromMe: false }, message: { conversation: 'hi "there"' } })
  const parts: string[] = []
  for (let n = 0; n + item.length + 40 < bytes; n += item.length + 1) parts.push(item)
  return `{"event":"messages.upsert","data":[${parts.join(',')}]}`.padEnd(bytes, ' ')
}

t.test('a provider retry is archived once in JetStream and once in ClickHouse, credentials in neither', async (t) => {
  const h = await start(t)
  const first = await archiveRaw(h.publisher, payload)
  const retry = await archiveRaw(h.publisher, { ...payload, receivedAt: (payload.receivedAt ?? 0) + 5000 })
  t.match(first, { duplicate: false, dataref: `raw:${first.rawId}` })
  t.match(retry, { duplicate: true, seq: first.seq, rawId: first.rawId, dataref: first.dataref }, 'the retry is acknowledged as a duplicate of the first')

  const info = await h.jsm.streams.info(RAW_STREAM, { subjects_filter: '>' })
  t.equal(info.state.messages, 1, 'one JetStream message')
  t.same(info.state.subjects, { 'omni.raw.whatsapp.phone_1_a': 1 }, 'on the subject-safe subject')
  const stored = await h.jsm.streams.getMessage(RAW_STREAM, { seq: first.seq })
  t.equal(stored?.header.get('Nats-Msg-Id'), `raw:${first.rawId}`)
  const copy = stored?.json<RawRow>()
  t.match(copy, { raw_id: first.rawId, instance: 'phone 1.a', body: payload.body, headers: REDACTED }, 'the JetStream copy keeps the real names and no credentials')

  t.ok(await eventually(async () => (await count(h.ch, table(h.ch))) === 1 && (await settled(h))), 'recorded and acknowledged')
  const [row] = await rows<RawRow>(h.ch, table(h.ch))
  t.equal(`raw:${row?.raw_id}`, first.dataref, 'the dataref names the row')
  t.same(row?.headers, REDACTED, 'the ClickHouse copy has no credentials either')
  t.equal(row?.body, payload.body)
  t.match(h.recorder.stats(), { recorded: 1, terminated: 0, inFlight: 0 })
})

t.test('a retry after the duplicate window is stored twice in JetStream but collapses to one row', async (t) => {
  const h = await start(t, { duplicateWindowMs: 200 })
  const first = await archiveRaw(h.publisher, payload)
  await new Promise((r) => setTimeout(r, 400))
  const late = await archiveRaw(h.publisher, { ...payload, receivedAt: (payload.receivedAt ?? 0) + 60_000 })
  t.equal(late.duplicate, false, 'beyond the window JetStream stores it again')
  t.not(late.seq, first.seq)
  t.ok(await eventually(async () => h.recorder.stats().recorded === 2 && (await settled(h))), 'both copies recorded')
  t.equal(await count(h.ch, table(h.ch)), 1, 'ClickHouse keeps one row per raw_id')
})

t.test('large bodies: ~900 KiB archives (more than 1 MiB once encoded); the worst 1 MiB body fits; more is refused', async (t) => {
  const h = await start(t)
  t.equal(h.nc.info?.max_payload, DEFAULT_MAX_PAYLOAD, 'the managed server allows 8 MiB messages')
  const big = webhookBody(900 * 1024)
  const worst = '\u0001'.repeat(MiB) // each byte becomes \u0001 in JSON: six times larger
  const a = await archiveRaw(h.publisher, { ...payload, body: big })
  const b = await archiveRaw(h.publisher, { ...payload, instance: 'worst', body: worst })
  const sizes = await Promise.all([a.seq, b.seq].map(async (seq) => (await h.jsm.streams.getMessage(RAW_STREAM, { seq }))?.data.length ?? 0))
  t.ok((sizes[0] ?? 0) > MiB, `the 900 KiB body is ${sizes[0]} bytes in the stream, beyond nats-server's 1 MiB default`)
  t.ok((sizes[1] ?? 0) > 6 * MiB && (sizes[1] ?? 0) < RAW_MAX_MSG_SIZE, `the worst 1 MiB body is ${sizes[1]} bytes, under the 8 MiB limit`)

  t.ok(await eventually(async () => (await count(h.ch, table(h.ch))) === 2 && (await settled(h)), 20_000), 'both recorded')
  const stored = await rows<{ raw_id: string; size: number; sha256: string; n: number }>(h.ch, `SELECT raw_id, size, sha256, length(body) AS n FROM (${table(h.ch)}) ORDER BY size`)
  const digest = (s: string) => createHash('sha256').update(s).digest('hex')
  t.match(stored, [
    { raw_id: a.rawId, size: Buffer.byteLength(big), sha256: digest(big), n: Buffer.byteLength(big) },
    { raw_id: b.rawId, size: MiB, sha256: digest(worst), n: MiB },
  ], 'stored whole')

  const err = await archiveRaw(h.publisher, { ...payload, body: '\u0001'.repeat(1.5 * MiB) }).catch((e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_BODY_TOO_LARGE'), 'a body that cannot fit fails with a clear error')
  t.equal((err as { permanent?: boolean }).permanent, true)
  t.equal((await h.jsm.streams.info(RAW_STREAM)).state.messages, 2, 'and nothing of it was stored')
})

t.test('ClickHouse unavailable: nothing is acknowledged before its write, everything lands after recovery', async (t) => {
  const h = await start(t)
  await h.ch.client.command({ query: `DETACH TABLE ${h.ch.table('omni_raw_payloads')}` })
  const acks = await Promise.all(Array.from({ length: 5 }, (_, i) => archiveRaw(h.publisher, { ...payload, body: `{"n":${i}}` })))
  t.ok(await eventually(async () => (await consumerInfo(h)).num_ack_pending === 5), 'the recorder holds all five')
  await new Promise((r) => setTimeout(r, 300))
  t.match(h.recorder.stats(), { recorded: 0, terminated: 0, inFlight: 5 }, 'none acknowledged while the table is gone')
  t.equal((await consumerInfo(h)).num_ack_pending, 5)
  t.ok(h.writer.unavailable(), 'the writer reports ClickHouse unavailable')
  await h.ch.client.command({ query: `ATTACH TABLE ${h.ch.table('omni_raw_payloads')}` })
  t.ok(await eventually(async () => (await count(h.ch, table(h.ch))) === 5 && (await settled(h))), 'all five recorded and acknowledged')
  const ids = (await rows<{ raw_id: string }>(h.ch, `SELECT raw_id FROM (${table(h.ch)})`)).map((r) => r.raw_id).sort()
  t.same(ids, acks.map((a) => a.rawId).sort())
  t.notOk(h.writer.unavailable())
})

t.test('close() is idempotent and waits for in-flight payloads; an unwritten one comes back after a restart', async (t) => {
  const h = await start(t)
  await h.ch.client.command({ query: `DETACH TABLE ${h.ch.table('omni_raw_payloads')}` })
  const a = await archiveRaw(h.publisher, payload)
  t.ok(await eventually(() => h.recorder.stats().inFlight === 1), 'held while ClickHouse is away')
  const closing = h.recorder.close()
  t.equal(h.recorder.close(), closing, 'the same promise on every call')
  t.equal(h.recorder.state, 'draining')
  let closed = false
  void closing.then(() => (closed = true))
  await new Promise((r) => setTimeout(r, 100))
  t.notOk(closed, 'close waits while the write is pending')
  await h.writer.close() // gives up after closeTimeoutMs: the write is aborted and the payload nak'ed
  await closing
  await h.recorder.closed()
  t.equal(h.recorder.state, 'stopped')
  t.match(h.recorder.stats(), { recorded: 0, terminated: 0, inFlight: 0 })
  await h.recorder[Symbol.asyncDispose]()

  await h.ch.client.command({ query: `ATTACH TABLE ${h.ch.table('omni_raw_payloads')}` })
  await h.restart()
  t.ok(await eventually(async () => (await count(h.ch, table(h.ch))) === 1 && (await settled(h))), 'recorded by the next run')
  t.equal((await rows<RawRow>(h.ch, table(h.ch)))[0]?.raw_id, a.rawId)
})

t.test('an undecodable message or a row ClickHouse refuses is terminated; the others are recorded', async (t) => {
  const h = await start(t)
  await h.ch.client.command({ query: `ALTER TABLE ${h.ch.table('omni_raw_payloads')} ADD CONSTRAINT no_poison CHECK body NOT LIKE '%poison%'` })
  const garbage = await h.publisher.publish(rawSubject('x', 'y'), new TextEncoder().encode('not json'), { expectStream: RAW_STREAM })
  const poison = await archiveRaw(h.publisher, { ...payload, body: '{"poison":true}' })
  const good = await archiveRaw(h.publisher, payload)
  t.ok(await eventually(async () => h.recorder.stats().terminated === 2 && h.recorder.stats().recorded === 1 && (await settled(h))), 'two terminated, one recorded, none pending')
  t.same((await rows<RawRow>(h.ch, table(h.ch))).map((r) => r.raw_id), [good.rawId])
  const info = await h.jsm.streams.info(RAW_STREAM)
  t.equal(info.state.messages, 3, 'the JetStream copies stay until max_age')
  t.ok((await h.jsm.streams.getMessage(RAW_STREAM, { seq: poison.seq })) && (await h.jsm.streams.getMessage(RAW_STREAM, { seq: garbage.seq })), 'the terminated ones among them')
})
