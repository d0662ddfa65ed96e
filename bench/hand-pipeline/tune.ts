// Tries the hand-written pipeline's two expert choices, pull batch and in-flight window, on a
// fresh managed nats-server, so the values the bench uses (pipeline-hand.ts) can be checked on
// the machine at hand. Rounds interleave the settings, since load drifts during a run.
//
//   node --stack-trace-limit=0 bench/hand-pipeline/tune.ts [--events 100000] [--try 256:4096,512:4096] [--rounds 3]
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../src/jetstream/connect.ts'
import { DEFAULT_ACK_WAIT_MS, ensureStreams, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { startNatsServer } from '../../src/server/mod.ts'
import { ingestMsgId } from '../../src/wire/mod.ts'
import { benchEvent, loadBenchFixtures } from '../lib/fixtures.ts'
import { createBenchPublisher, publishAll } from '../lib/publish.ts'
import { closeQuietly } from '../lib/worker.ts'
import { startHandPipeline } from './pipeline.ts'

const USAGE = 'usage: tune.ts [--events N (1000–10000000)] [--try BATCH:IN_FLIGHT,…] [--rounds R (1–20)]'

function usageError(message: string): never {
  console.error(`${message}\n${USAGE}`)
  process.exit(2)
}

function positive(name: string, text: string, min: number, max: number): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) usageError(`${name}: "${text}" must be an integer from ${min} to ${max}`)
  return n
}

const OPTIONS = { events: { type: 'string', default: '100000' }, try: { type: 'string', default: '128:4096,256:4096,512:4096,1024:4096,256:16384' }, rounds: { type: 'string', default: '3' } } as const
let values: { events: string; try: string; rounds: string }
try {
  values = parseArgs({ options: OPTIONS }).values
} catch (err) {
  usageError((err as Error).message)
}
const events = positive('--events', values.events, 1000, 10_000_000)
const rounds = positive('--rounds', values.rounds, 1, 20)
const settings = values.try.split(',').map((pair) => {
  const [batch = '', inFlight = ''] = pair.split(':')
  return { batch: positive(`--try ${pair} (batch)`, batch, 1, 10_000), inFlight: positive(`--try ${pair} (in flight)`, inFlight, 1, 1_000_000) }
})

const dir = await mkdtemp(join(tmpdir(), 'omni-hand-tune-'))
const server = await startNatsServer({ port: 0, storeDir: join(dir, 'store'), syncInterval: '1s', stopTimeoutMs: 10_000 })
const silent = { increment() {}, update() {}, stop() {} }
try {
  const fixtures = await loadBenchFixtures()
  const nc = await connectNats(server.url, { name: 'omni-hand-tune' })
  const jsm = await jetstreamManager(nc)
  for (let round = 0; round < rounds; round++) {
    for (const { batch, inFlight } of settings) {
      await jsm.streams.delete(EVENTS_STREAM).catch(() => undefined)
      await ensureStreams(jsm)
      const publisher = createBenchPublisher(nc)
      const run = `tune-${round}-${batch}-${inFlight}`
      const filled = await publishAll(publisher, events, (i) => {
        const e = benchEvent(fixtures.catalog, run, i)
        return { subject: e.subject, bytes: e.bytes, msgID: ingestMsgId(e.event.tenant, e.event.idempotencykey) }
      }, silent, 120_000)
      await publisher.close()
      if (filled.failed > 0) throw new Error(`pre-publishing failed: ${filled.firstError}`)
      const started = performance.now()
      const hand = await startHandPipeline({ url: server.url, stream: EVENTS_STREAM, consumer: 'hand_tune', source: fixtures.sourceSubject, output: fixtures.outputSubject, style: 'reply-inbox', batch, maxAckPending: inFlight, ackWaitMs: DEFAULT_ACK_WAIT_MS })
      const at = await hand.ackedAtLeast(events, 120_000)
      await hand.close()
      const rate = at === undefined ? 'did not finish in 120 s' : `${Math.round(events / ((at - started) / 1000))}/s`
      console.log(`round ${round + 1}: batch ${batch}, ${inFlight} in flight: ${rate}`)
    }
  }
  await closeQuietly(nc)
} finally {
  await server.close()
  await rm(dir, { recursive: true, force: true })
}
