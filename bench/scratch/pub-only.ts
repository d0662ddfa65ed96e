// Scratch: createPublisher alone (maxInFlight 4096), for profiling and A/B against raw-ceiling.ts.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { startNatsServer } from '../../src/server/mod.ts'

const N = Number(process.env['N'] ?? 200_000)
const payload = new Uint8Array(256).fill(97)
const dir = await mkdtemp(join(tmpdir(), 'omni-bench-'))
const server = await startNatsServer({ port: 0, storeDir: join(dir, 'store') })
const nc = await connect({ servers: server.url })
const jsm = await jetstreamManager(nc)
await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'] })
const pub = createPublisher(nc, { maxInFlight: 4096 })
let acked = 0
const done = Promise.withResolvers<void>()
const onAck = () => {
  if (++acked === N) done.resolve()
}
const t0 = performance.now()
for (let i = 0; i < N; i++) {
  if (pub.pending >= 4096) await pub.ready()
  pub.publish('pub.x', payload).then(onAck, done.reject)
}
await done.promise
const ms = performance.now() - t0
console.log(JSON.stringify({ scenario: 'createPublisher', n: N, msgsPerSec: Math.round((N / ms) * 1000) }))
await pub.close()
await nc.close()
await server.close()
await rm(dir, { recursive: true, force: true })
