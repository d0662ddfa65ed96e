// Scratch measurement: JetStream publish (client js.publish vs createPublisher) and pull consume + ack.
// Run: node --stack-trace-limit=0 bench/scratch/publish-consume.ts  [env N, SYNC=always|<dur>, NO_ASYNC_TRACES=1]
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { startNatsServer } from '../../src/server/mod.ts'

const N = Number(process.env['N'] ?? 200_000)
const WINDOW = 1000
const payload = new Uint8Array(256).fill(97)
const dir = await mkdtemp(join(tmpdir(), 'omni-bench-'))
const server = await startNatsServer({ port: 0, storeDir: join(dir, 'store'), ...(process.env['SYNC'] ? { syncInterval: process.env['SYNC'] } : {}) })
const nc = await connect({ servers: server.url, noAsyncTraces: process.env['NO_ASYNC_TRACES'] === '1' })
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)
for (const name of ['A', 'B']) await jsm.streams.add({ name: `BENCH_${name}`, subjects: [`bench.${name}.>`], storage: 'file' as never })

/** Server CPU time (user+system) in µs, from /proc (clock ticks of 10 ms). */
function serverCpuUs(): number {
  const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(f[11]) + Number(f[12])) * 10_000
}
interface Mark {
  t: number
  client: NodeJS.CpuUsage
  server: number
}
const mark = (): Mark => ({ t: performance.now(), client: process.cpuUsage(), server: serverCpuUs() })
const results: Record<string, { msgsPerSec: number; clientCpuUsPerMsg: number; serverCpuUsPerMsg: number }> = {}
const rate = (label: string, n: number, from: Mark) => {
  const ms = performance.now() - from.t
  const c = process.cpuUsage(from.client)
  const r = {
    msgsPerSec: Math.round((n / ms) * 1000),
    clientCpuUsPerMsg: Number(((c.user + c.system) / n).toFixed(2)),
    serverCpuUsPerMsg: Number(((serverCpuUs() - from.server) / n).toFixed(2)),
  }
  results[label] = r
  console.log(
    `${label.padEnd(34)} ${String(r.msgsPerSec).padStart(8)} msgs/s  (${n} in ${ms.toFixed(0)} ms; CPU µs/msg client ${r.clientCpuUsPerMsg}, server ${r.serverCpuUsPerMsg})`,
  )
}

// (a) js.publish awaited in windows of 1000
let t0 = mark()
for (let i = 0; i < N; i += WINDOW) {
  const w: Promise<unknown>[] = []
  for (let j = 0; j < WINDOW && i + j < N; j++) w.push(js.publish('bench.A.x', payload))
  await Promise.all(w)
}
rate('js.publish (windows of 1000)', N, t0)

// (b) createPublisher, maxInFlight 4096, with ready() as backpressure
const pub = createPublisher(nc, { maxInFlight: 4096 })
let acked = 0
let failed = 0
const all = Promise.withResolvers<void>()
const onAck = () => {
  if (++acked + failed === N) all.resolve()
}
const onErr = () => {
  if (acked + ++failed === N) all.resolve()
}
t0 = mark()
for (let i = 0; i < N; i++) {
  if (pub.pending >= 4096) await pub.ready()
  pub.publish('bench.B.x', payload).then(onAck, onErr)
}
await all.promise
rate('createPublisher (maxInFlight 4096)', N, t0)
await pub.close()
if (failed > 0) console.log(`  ${failed} publishes failed`)
const info = await jsm.streams.info('BENCH_B')
if (info.state.messages !== N) console.log(`  BENCH_B holds ${info.state.messages}, expected ${N}`)

// pull consume + ack of the messages in BENCH_B
await jsm.consumers.add('BENCH_B', { durable_name: 'bench', ack_policy: AckPolicy.Explicit })
const consumer = await js.consumers.get('BENCH_B', 'bench')
t0 = mark()
const iter = await consumer.consume()
let got = 0
for await (const m of iter) {
  m.ack()
  if (++got === N) break
}
await nc.flush()
rate('consume() + ack', N, t0)
const ci = await jsm.consumers.info('BENCH_B', 'bench')
if (ci.num_ack_pending !== 0 || ci.num_pending !== 0) console.log(`  consumer: ack_pending ${ci.num_ack_pending}, pending ${ci.num_pending}`)

console.log(JSON.stringify({ loadavg: loadavg(), n: N, sync: process.env['SYNC'] ?? 'default', noAsyncTraces: process.env['NO_ASYNC_TRACES'] === '1', stackTraceLimit: Error.stackTraceLimit, server: server.version, node: process.version, results }))
await nc.close()
await server.close()
await rm(dir, { recursive: true, force: true })
