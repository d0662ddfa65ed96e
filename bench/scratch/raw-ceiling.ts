// Scratch: the ceiling for JetStream publish on this machine: nc.publish with a reply inbox,
// acks only counted on one wildcard subscription (no promises, no JSON parsing), 4096 in flight.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, createInbox } from '@nats-io/transport-node'
import { startNatsServer } from '../../src/server/mod.ts'

const N = Number(process.env['N'] ?? 200_000)
const MAX = 4096
const payload = new Uint8Array(256).fill(97)
const dir = await mkdtemp(join(tmpdir(), 'omni-bench-'))
const server = await startNatsServer({ port: 0, storeDir: join(dir, 'store') })
const nc = await connect({ servers: server.url })
const jsm = await jetstreamManager(nc)
await jsm.streams.add({ name: 'RAW', subjects: ['raw.>'] })
const prefix = createInbox()
let sent = 0
let acked = 0
let parse = process.env['PARSE'] === '1'
const done = Promise.withResolvers<void>()
let wake: (() => void) | undefined
nc.subscribe(`${prefix}.>`, {
  callback: (_e, m) => {
    if (parse) JSON.parse(m.string())
    if (++acked === N) done.resolve()
    if (wake && sent - acked < MAX / 2) {
      const w = wake
      wake = undefined
      w()
    }
  },
})
const t0 = performance.now()
while (sent < N) {
  while (sent < N && sent - acked < MAX) nc.publish('raw.x', payload, { reply: `${prefix}.${++sent}` })
  if (sent < N) await new Promise<void>((r) => (wake = r))
}
await done.promise
const ms = performance.now() - t0
console.log(JSON.stringify({ scenario: 'raw reply inbox', parse, n: N, msgsPerSec: Math.round((N / ms) * 1000) }))
await nc.close()
await server.close()
await rm(dir, { recursive: true, force: true })
