// The hand-written pipeline the end-to-end rows are divided by: its transforms, and its loop on a
// real nats-server, in both publish styles. It must keep the promises a user would need (every
// input acked only once its output is stored, a redelivered input deduplicated, a refused
// output sent back), or it would be a cheaper denominator than what it stands for.
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import t from 'tap'
import { startHandPipeline, type HandPipeline, type PublishStyle } from '../../bench/hand-pipeline/pipeline.ts'
import { MAX_TEXT, transform } from '../../bench/hand-pipeline/transforms.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

t.setTimeout(60_000)

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const event = (id: string, kind: string, text = 'hi') => encoder.encode(JSON.stringify({ id, type: 'bench.tick', data: { kind, text, meta: { keep: 1 } } }))

t.test('the three transforms: trust refuses oversized text, enrich adds, classify tags', async (t) => {
  const out = transform(event('e1', 'audio'))
  t.equal(out.type, 'output')
  if (out.type !== 'output') return
  t.equal(out.id, 'e1')
  t.same(JSON.parse(decoder.decode(out.bytes)), { id: 'e1', type: 'bench.tick', class: 'voice', data: { kind: 'audio', text: 'hi', playbook: 'bench', meta: { keep: 1, origin: 'omni-bench' } } })
  t.match(JSON.parse(decoder.decode((transform(event('e2', 'text')) as { bytes: Uint8Array }).bytes)), { class: 'conversation' })
  t.match(JSON.parse(decoder.decode((transform(event('e3', 'sticker')) as { bytes: Uint8Array }).bytes)), { class: 'signal' }, 'no rule matches: signal')
  t.same(transform(event('e4', 'text', 'x'.repeat(MAX_TEXT + 1))), { type: 'refused', reason: 'oversized text' })
  t.throws(() => transform(encoder.encode('[1]')), /not a bench event: an object with a string id and a data object/)
  t.throws(() => transform(encoder.encode('{"id":1,"data":{}}')), /not a bench event/)
  t.throws(() => transform(encoder.encode('not json')), SyntaxError)
})

for (const style of ['reply-inbox', 'js-publish'] as const satisfies readonly PublishStyle[]) {
  t.test(`${style}: every input acked once its output is stored; redelivered outputs are deduplicated`, async (t) => {
    const server = await startTestNats(t, { syncInterval: '1s' })
    const nc = await connectTest(t, server)
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    await jsm.streams.add({ name: 'HAND', subjects: ['hand.in', 'hand.out'], storage: StorageType.File })
    const N = 300
    for (let i = 0; i < N; i++) await js.publish('hand.in', event(`e${i}`, i % 4 === 0 ? 'audio' : 'text'))
    await js.publish('hand.in', encoder.encode('not json'))
    await js.publish('hand.in', event('big', 'text', 'x'.repeat(MAX_TEXT + 1)))
    // an earlier delivery of e5 stored its output already: the stream must drop the second one
    const e5 = transform(event('e5', 'text'))
    if (e5.type !== 'output') throw new Error('e5 must give an output')
    await js.publish('hand.out', e5.bytes, { msgID: 'hand:e5' })

    const hand = await startHandPipeline({ url: server.url, stream: 'HAND', consumer: 'hand', source: 'hand.in', output: 'hand.out', style, batch: 64, maxAckPending: 128, ackWaitMs: 30_000 })
    let closed = false
    t.teardown(() => (closed ? undefined : hand.close()))
    t.ok(await hand.ackedAtLeast(N + 1, 20_000), 'every event and the refused one acked')
    await hand.close()
    closed = true
    t.match(hand.stats(), { acked: N + 1, refused: 1, poison: 1, failed: 0, lost: 0, inFlight: 0 }, 'the oversized event refused, the bytes that are no event terminated, nothing failed')
    const info = await jsm.streams.info('HAND', { subjects_filter: 'hand.out' })
    t.equal(info.state.subjects?.['hand.out'], N, 'one output per event: the pre-stored e5 output was not stored twice')
    const c = await jsm.consumers.info('HAND', 'hand')
    t.equal(c.num_pending + c.num_ack_pending, 0, 'nothing left at the server (the poison message terminated)')
    const last = await jsm.streams.getMessage('HAND', { last_by_subj: 'hand.out' })
    t.match(last?.json(), { id: `e${N - 1}`, class: 'conversation', data: { playbook: 'bench', meta: { origin: 'omni-bench' } } }, 'the stored output went through the three transforms')
    t.equal(last?.header.get('Nats-Msg-Id'), `hand:e${N - 1}`, 'the output id derives from the input id')
  })

  t.test(`${style}: an output the server refuses leaves its input unacked, to be redelivered`, async (t) => {
    const server = await startTestNats(t, { syncInterval: '1s' })
    const nc = await connectTest(t, server)
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'HAND', subjects: ['hand.in'], storage: StorageType.File })
    await jetstream(nc).publish('hand.in', event('e1', 'text'))
    // no stream captures the output subject: every publish is answered 503 no responders
    const hand: HandPipeline = await startHandPipeline({ url: server.url, stream: 'HAND', consumer: 'hand', source: 'hand.in', output: 'nowhere.out', style, batch: 8, maxAckPending: 8, ackWaitMs: 30_000 })
    t.teardown(() => hand.close())
    const until = performance.now() + 10_000
    while (hand.stats().failed < 3 && performance.now() < until) await new Promise((r) => setTimeout(r, 20))
    t.ok(hand.stats().failed >= 3, `nak'd and redelivered (${hand.stats().failed} failed deliveries)`)
    t.equal(hand.stats().acked, 0, 'never acked')
    const c = await jsm.consumers.info('HAND', 'hand')
    t.ok(c.num_redelivered >= 1 || c.num_ack_pending === 1, 'the server still holds the input')
  })
}
