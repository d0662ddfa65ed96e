// scratch: counts socket writes (transport.send) per phase
import { createRequire } from 'node:module'
import { runBench } from '../run.ts'
const require = createRequire(import.meta.url)
const { NodeTransport } = require('@nats-io/transport-node/lib/node_transport.js') as { NodeTransport: { prototype: { send(f: Uint8Array): void } } }
let writes = 0
let bytes = 0
const orig = NodeTransport.prototype.send
NodeTransport.prototype.send = function (f: Uint8Array) {
  writes++
  bytes += f.byteLength
  return orig.call(this, f)
}
const N = Number(process.argv[2] ?? 50000)
await runBench({
  events: N,
  only: ['consume-ceiling', 'pipeline-e2e'],
  json: false,
  progress: (label, total) => {
    const w0 = writes
    const b0 = bytes
    return {
      increment() {},
      update() {},
      stop() {
        console.log(`${label}: ${writes - w0} writes for ${total} events = ${((writes - w0) / total).toFixed(2)}/event, ${((bytes - b0) / (writes - w0)).toFixed(0)} B/write`)
      },
    }
  },
})
