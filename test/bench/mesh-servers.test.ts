// The mesh the ledger and the bench run on: three real nats-servers on loopback with the hub's
// permissions, a1 behind a TCP proxy. Proves the harness's two faults take a link down and that
// it comes back, and that an outbox sourced across the hub survives both with nothing lost.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection, createServer } from 'node:net'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { startMeshServers } from '../../bench/lib/mesh-servers.ts'
import { startTcpProxy } from '../../bench/lib/tcp-proxy.ts'
import { connectNats } from '../../src/jetstream/connect.ts'
import { meshApiPrefix, meshDeliverSubject, meshInboxStream, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects } from '../../src/wire/mod.ts'

t.setTimeout(120_000)

t.test('the TCP proxy passes bytes, and refuses while cut', async (t) => {
  // the echo side sees the proxy's resets as errors: expected here
  const echo = createServer((s) => s.on('error', () => undefined).pipe(s))
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => echo.close(() => r())))
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: (echo.address() as { port: number }).port })
  t.teardown(() => proxy.close())
  const roundTrip = () =>
    new Promise<string>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port: proxy.port })
      s.once('data', (d) => (resolve(d.toString()), s.destroy()))
      s.once('error', () => resolve('error'))
      s.once('close', () => resolve('closed'))
      s.write('ping')
    })
  t.equal(await roundTrip(), 'ping', 'bytes pass through')
  proxy.cut()
  t.not(await roundTrip(), 'ping', 'a cut proxy lets nothing through')
  proxy.restore()
  t.equal(await roundTrip(), 'ping', 'and passes again once healed')
  t.equal(proxy.connections(), 2, 'the refused connection was not counted')
})

t.test('a1 → hub → a2 sourcing survives a cut link and a SIGKILLed hub', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'omni-mesh-servers-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const mesh = await startMeshServers({ dir, syncInterval: '1s' })
  t.teardown(() => mesh.close())
  const a1 = await connectNats(mesh.a1.url, { name: 'test-a1', credentials: mesh.platform })
  const a2 = await connectNats(mesh.a2.url, { name: 'test-a2', credentials: mesh.platform })
  t.teardown(() => Promise.all([a1.close(), a2.close()]))
  const jsm1 = await jetstreamManager(a1)
  const jsm2 = await jetstreamManager(a2)
  await jsm1.streams.add({ name: meshOutboxStream('cluster'), subjects: [meshOutboxSubjects('cluster', 'a', 'a1')] })
  await jsm2.streams.add({ name: meshInboxStream('a1'), subjects: [], sources: [{ name: meshOutboxStream('cluster'), external: { api: meshApiPrefix('a1'), deliver: meshDeliverSubject('a', 'a1', 'cluster', 'a2') } }] })
  const js = jetstream(a1)
  const subject = meshOutboxSubject('cluster', 'a', 'a1', 'omni.evt.test.thing.v1')
  const publish = async (from: number, n: number) => {
    for (let i = from; i < from + n; i++) await js.publish(subject, `e${i}`, { msgID: `e${i}` })
  }
  const held = async () => (await jsm2.streams.info(meshInboxStream('a1'))).state.messages
  const until = async (n: number) => {
    for (let k = 0; k < 200 && (await held()) < n; k++) await new Promise((r) => setTimeout(r, 100))
    return held()
  }

  await publish(0, 100)
  t.equal(await until(100), 100, 'a2 sources a1 while the link is up')

  const proxy = mesh.proxy
  if (!proxy) throw new Error('startMeshServers links a1 through its proxy by default')
  proxy.cut()
  t.equal(await mesh.leafLinks(mesh.hub).then(async (n) => (n === 1 ? 1 : (await new Promise((r) => setTimeout(r, 500)), mesh.leafLinks(mesh.hub)))), 1, 'the cut takes a1 off the hub')
  await publish(100, 100) // a1's own stream still acknowledges while its link is down
  proxy.restore()
  t.ok(await mesh.linked(), 'a1 rejoins once healed')
  t.equal(await until(200), 200, 'what a1 stored during the cut arrives after the heal')

  mesh.hub.kill('SIGKILL')
  await mesh.hub.closed()
  await publish(200, 100)
  await new Promise((r) => setTimeout(r, 1000))
  await mesh.hub.restart()
  t.ok(await mesh.linked(), 'both leaves rejoin the restarted hub')
  t.equal(await until(300), 300, 'what a1 stored while the hub was dead arrives after its restart')
  await new Promise((r) => setTimeout(r, 500))
  t.equal(await held(), 300, 'and nothing arrives twice')
})
