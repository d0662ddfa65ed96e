import { DiscardPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { Empty, headers, type Msg, type NatsConnection } from '@nats-io/transport-node'
import t, { type Test } from 'tap'
import { hasCode } from '../../src/errors/mod.ts'
import { createPublisher, type PubAck, type PublishOptions } from '../../src/jetstream/publisher.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

const enc = new TextEncoder()

const server = await startTestNats(t)
const nc: NatsConnection = await connectTest(t, server)
const jsm: JetStreamManager = await jetstreamManager(nc)

let streams = 0
/** A fresh stream capturing `<name>.>`; returns its name (also the subject prefix). */
async function stream(opts: { duplicateWindowMs?: number } = {}): Promise<string> {
  const name = `S${++streams}`
  await jsm.streams.add({
    name,
    subjects: [`${name}.>`],
    ...(opts.duplicateWindowMs ? { duplicate_window: opts.duplicateWindowMs * 1_000_000 } : {}),
  })
  return name
}

t.test('acks carry the stream and increasing sequence numbers', async (t) => {
  const s = await stream()
  await using pub = createPublisher(nc)
  const acks: PubAck[] = []
  for (let i = 0; i < 5; i++) acks.push(await pub.publish(`${s}.a`, enc.encode(`m${i}`)))
  t.same(acks.map((a) => a.seq), [1, 2, 3, 4, 5])
  t.ok(acks.every((a) => a.stream === s && !a.duplicate))
  const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => pub.publish(`${s}.b`, enc.encode(`c${i}`))))
  t.same(concurrent.map((a) => a.seq), Array.from({ length: 100 }, (_, i) => i + 6), 'acks match their publishes in order')
  t.equal(pub.pending, 0)
})

t.test('a repeated msgID inside the duplicate window is acked as duplicate and stored once', async (t) => {
  const s = await stream({ duplicateWindowMs: 60_000 })
  await using pub = createPublisher(nc)
  const first = await pub.publish(`${s}.x`, enc.encode('a'), { msgID: 'evt-1', headers: { 'Omni-Test': 'yes' } })
  const again = await pub.publish(`${s}.x`, enc.encode('a'), { msgID: 'evt-1' })
  t.same(first, { stream: s, seq: 1, duplicate: false })
  t.same(again, { stream: s, seq: 1, duplicate: true })
  t.equal((await jsm.streams.info(s)).state.messages, 1)
  const stored = await jsm.streams.getMessage(s, { seq: 1 })
  t.equal(stored?.header.get('Omni-Test'), 'yes', 'custom headers are sent')
  t.equal(stored?.header.get('Nats-Msg-Id'), 'evt-1')
})

t.test('a subject no stream captures rejects with a clear error', async (t) => {
  await using pub = createPublisher(nc)
  await t.rejects(pub.publish('nobody.listens.here', enc.encode('x')), {
    code: 'OMNI_ERR_PUBLISH_FAILED',
    message: /no JetStream stream captures subject "nobody\.listens\.here".*503/,
  })
  t.equal(pub.pending, 0)
})

t.test('expectStream guards against the wrong stream', async (t) => {
  const s = await stream()
  await using pub = createPublisher(nc)
  t.equal((await pub.publish(`${s}.y`, enc.encode('ok'), { expectStream: s })).seq, 1)
  await t.rejects(pub.publish(`${s}.y`, enc.encode('no'), { expectStream: 'OTHER' }), {
    code: 'OMNI_ERR_PUBLISH_FAILED',
    message: /expected stream does not match.*err_code 10060/,
  })
})

t.test('maxInFlight bounds the acks outstanding and keeps publish order', async (t) => {
  const s = await stream()
  await using pub = createPublisher(nc, { maxInFlight: 8 })
  let highest = 0
  const watch = () => (highest = Math.max(highest, pub.pending))
  const all: Promise<PubAck>[] = []
  for (let i = 0; i < 1000; i++) {
    all.push(pub.publish(`${s}.z`, enc.encode(`n${i}`)).finally(watch))
    watch()
  }
  const acks = await Promise.all(all)
  t.equal(highest, 8, 'never more than 8 pending, and the limit is reached')
  t.same(acks.map((a) => a.seq), Array.from({ length: 1000 }, (_, i) => i + 1), 'queued publishes keep their order')
  t.equal((await jsm.streams.info(s)).state.messages, 1000)
})

t.test('ready() lets a loop wait for room instead of queueing', async (t) => {
  const s = await stream()
  await using pub = createPublisher(nc, { maxInFlight: 4 })
  let acked = 0
  let highest = 0
  let full = 0
  for (let i = 0; i < 200; i++) {
    await pub.ready()
    if (pub.pending >= 4) full++
    void pub.publish(`${s}.r`, enc.encode('r')).then(() => acked++)
    highest = Math.max(highest, pub.pending)
  }
  await pub.close()
  t.equal(full, 0, 'there is always room after ready()')
  t.equal(acked, 200)
  t.equal(highest, 4)
})

t.test('a publish nobody acks times out with OMNI_ERR_PUBLISH_FAILED', async (t) => {
  // a core subscriber counts as a responder (no 503) but never replies
  const sub = nc.subscribe('silent.>')
  t.teardown(() => sub.unsubscribe())
  await using pub = createPublisher(nc, { timeoutMs: 100 })
  const started = performance.now()
  await t.rejects(pub.publish('silent.one', enc.encode('x')), { code: 'OMNI_ERR_PUBLISH_FAILED', message: /within 100 ms.*same msgID/ })
  t.ok(performance.now() - started < 1000)
  t.equal(pub.pending, 0)
})

t.test('close waits for outstanding acks, then rejects new publishes', async (t) => {
  const s = await stream()
  const pub = createPublisher(nc, { maxInFlight: 2 })
  const inFlight = Array.from({ length: 10 }, (_, i) => pub.publish(`${s}.c`, enc.encode(`${i}`)))
  const closing = pub.close()
  t.equal(pub.close(), closing, 'idempotent')
  await t.rejects(pub.publish(`${s}.c`, enc.encode('late')), { code: 'OMNI_ERR_PUBLISH_FAILED', message: /publisher is closed/ })
  await closing
  t.equal((await Promise.all(inFlight)).length, 10, 'every accepted publish was acked')
  await pub.closed()
  t.equal(pub.pending, 0)
})

t.test('close gives up after timeoutMs and rejects what is left', async (t) => {
  const sub = nc.subscribe('void.>')
  t.teardown(() => sub.unsubscribe())
  const pub = createPublisher(nc, { timeoutMs: 300 })
  const lost = pub.publish('void.x', enc.encode('x')).catch((e: unknown) => e)
  const closing = pub.close()
  t.equal(pub.pending, 1)
  await closing
  t.ok(hasCode(await lost, 'OMNI_ERR_PUBLISH_FAILED'))
  t.equal(pub.pending, 0)
})

t.test('a closed connection rejects outstanding acks and closes the publisher', async (t) => {
  const own = await connectTest(t, server, 'closing')
  own.subscribe('gone.>') // a responder that never acks
  const pub = createPublisher(own, { timeoutMs: 10_000 })
  const waiting = pub.publish('gone.x', enc.encode('x')).catch((e: unknown) => e)
  await own.flush()
  await own.close()
  await pub.closed()
  const err = await waiting
  t.ok(hasCode(err, 'OMNI_ERR_PUBLISH_FAILED'))
  t.match((err as Error).message, /connection closed/)
  await t.rejects(pub.publish('gone.y', enc.encode('y')), { code: 'OMNI_ERR_PUBLISH_FAILED' })
})

t.test('an oversized payload fails at once and is marked permanent', async (t) => {
  const s = await stream()
  await using pub = createPublisher(nc)
  const big = new Uint8Array((nc.info?.max_payload ?? 1 << 20) + 1)
  const err = await pub.publish(`${s}.big`, big).catch((e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_PUBLISH_FAILED'))
  t.equal((err as { permanent: boolean }).permanent, true)
  t.equal(pub.pending, 0)
})

/** A core subscriber standing in for a stream: answers every publish with `reply(n)`. */
function fakeStream(t: Test, subject: string, reply: (n: number, m: Msg) => void): void {
  let n = 0
  const sub = nc.subscribe(subject, { callback: (_err, m) => reply(++n, m) })
  t.teardown(() => sub.unsubscribe())
}

t.test('malformed or unexpected replies reject with the subject named', async (t) => {
  fakeStream(t, 'fake.empty', (_n, m) => m.respond(Empty, { headers: headers(408, 'Request Timeout') }))
  fakeStream(t, 'fake.garbage', (_n, m) => m.respond(enc.encode('not json')))
  fakeStream(t, 'fake.odd', (_n, m) => m.respond(enc.encode('{"hello":1}')))
  await using pub = createPublisher(nc)
  await t.rejects(pub.publish('fake.empty', enc.encode('x')), { code: 'OMNI_ERR_PUBLISH_FAILED', message: /"fake\.empty" \(status 408 Request Timeout\)/ })
  await t.rejects(pub.publish('fake.garbage', enc.encode('x')), { code: 'OMNI_ERR_PUBLISH_FAILED', message: /unreadable ack .*"fake\.garbage": not json/ })
  await t.rejects(pub.publish('fake.odd', enc.encode('x')), { code: 'OMNI_ERR_PUBLISH_FAILED', message: /unexpected reply .*"fake\.odd"/ })
})

t.test('a long queue behind maxInFlight 1 stays in order', async (t) => {
  fakeStream(t, 'fake.seq', (n, m) => m.respond(enc.encode(JSON.stringify({ stream: 'FAKE', seq: n }))))
  await using pub = createPublisher(nc, { maxInFlight: 1 })
  const acks = await Promise.all(Array.from({ length: 2100 }, () => pub.publish('fake.seq', enc.encode('q'))))
  t.same(acks.map((a) => a.seq), Array.from({ length: 2100 }, (_, i) => i + 1))
})

t.test('invalid options are rejected', async (t) => {
  t.throws(() => createPublisher(nc, { maxInFlight: 0, timeoutMs: -1 }), { code: 'OMNI_ERR_CONFIG' })
})

t.test('a stream at its limit (bytes or messages, discard: new) refuses with OMNI_ERR_STREAM_FULL: not permanent, with a retry delay', async (t) => {
  const bytes = `S${++streams}`
  await jsm.streams.add({ name: bytes, subjects: [`${bytes}.>`], max_bytes: 4096, discard: DiscardPolicy.New })
  const count = `S${++streams}`
  await jsm.streams.add({ name: count, subjects: [`${count}.>`], max_msgs: 2, discard: DiscardPolicy.New })
  await using pub = createPublisher(nc)
  for (const [s, payload] of [[bytes, new Uint8Array(500)], [count, enc.encode('x')]] as const) {
    let err: unknown
    for (let i = 0; i < 20 && !err; i++) err = await pub.publish(`${s}.a`, payload).then(() => undefined, (e: unknown) => e)
    t.ok(hasCode(err, 'OMNI_ERR_STREAM_FULL'), `${s}: ${String(err)}`)
    t.match(err, { status: 507, permanent: false, retryAfterS: 30, message: /nothing was stored, retry later with the same id/ })
  }
  t.equal((await jsm.streams.info(count)).state.messages, 2, 'the stored ones are kept')
})

t.test("headers are encoded byte for byte as the client's MsgHdrs encodes them, and arrive so", async (t) => {
  const { encodeHeaders } = await import('../../src/jetstream/header-bytes.ts')
  const entries = { 'Omni-Emitted-By': 'notes', 'Omni-Ingest-Origin': ' webhook:whatsapp:main ', 'Omni-Empty': '', 'Nats-Msg-Id': 'overridden' }
  const h = headers()
  for (const [k, v] of Object.entries(entries)) h.set(k, v)
  h.set('Nats-Msg-Id', 'evt-ü')
  // encode() is what the client's publish calls; MsgHdrs' public type does not list it
  const bytes = (x: unknown) => Buffer.from((x as { encode(): Uint8Array }).encode()).toString()
  t.same(bytes(encodeHeaders(entries, { 'Nats-Msg-Id': 'evt-ü', 'Nats-Expected-Stream': undefined })), bytes(h))

  const s = await stream({ duplicateWindowMs: 60_000 })
  await using pub = createPublisher(nc)
  await pub.publish(`${s}.h`, enc.encode('a'), { msgID: 'evt-ü', headers: entries, expectStream: s })
  const stored = await jsm.streams.getMessage(s, { seq: 1 })
  t.equal(stored?.header.get('Omni-Ingest-Origin'), 'webhook:whatsapp:main', 'values are trimmed, as MsgHdrs trims them')
  t.equal(stored?.header.get('Omni-Empty'), '')
  t.same(stored?.header.values('Nats-Msg-Id'), ['evt-ü'], 'the id wins over an entry of the same name, once')
  t.equal((await pub.publish(`${s}.h`, enc.encode('a'), { msgID: 'evt-ü' })).duplicate, true, 'the server reads the id')
  await t.rejects(pub.publish(`${s}.h`, enc.encode('a'), { expectStream: 'other' }), /wrong last stream|expected stream/i, 'and the expected stream')
})

t.test('a header value with a line break, or a name MsgHdrs refuses, fails at once and for good: nothing can be smuggled in as a header of its own', async (t) => {
  const s = await stream()
  await using pub = createPublisher(nc)
  const refused: PublishOptions[] = [
    { msgID: 'x\r\nNats-Expected-Last-Sequence: 1' },
    { headers: { 'Omni-Origin': 'a\nOmni-Emitted-By: forged' } },
    { headers: { 'Bad Name': 'v' } },
    { headers: { 'Bad:Name': 'v' } },
  ]
  for (const opts of refused) {
    const err = await pub.publish(`${s}.bad`, enc.encode('a'), opts).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(hasCode(err, 'OMNI_ERR_PUBLISH_FAILED') && (err as { permanent: boolean }).permanent, `refused for good: ${JSON.stringify(opts)}`)
  }
  t.equal((await jsm.streams.info(s)).state.messages, 0, 'nothing was stored')
})
