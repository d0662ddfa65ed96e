// A stream whose byte limit the server cannot reserve is refused with an error that names the
// stream, its limit and the flags that lower it, at creation and when an existing stream grows.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { DLQ_STREAM, ensureStreams, EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { locateNatsBinary } from '../../src/server/binary.ts'
import { freePort } from '../../bench/lib/mesh-servers.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

// far more than 75% of any disk this runs on
const PIB = 2 ** 50

t.test('a new stream whose byte limit does not fit is refused by name, with the way out', async (t) => {
  const jsm = await jetstreamManager(await connectTest(t, await startTestNats(t)))
  await t.rejects(ensureStreams(jsm, { maxBytes: PIB }), { code: 'OMNI_ERR_CONFIG', message: /stream OMNI_EVENTS: the NATS server has no room to reserve its byte limit of 1048576 GiB .*--stream-max-bytes/ })
  await t.rejects(jsm.streams.info(EVENTS_STREAM), 'nothing was created')
})

t.test('an existing stream grown past what fits is refused and keeps its limit', async (t) => {
  const jsm = await jetstreamManager(await connectTest(t, await startTestNats(t)))
  await ensureStreams(jsm, { maxBytes: 64 * 1024 * 1024 })
  await t.rejects(ensureStreams(jsm, { maxBytes: PIB }), { code: 'OMNI_ERR_CONFIG', message: /stream OMNI_EVENTS: .*1048576 GiB/ })
  t.equal((await jsm.streams.info(EVENTS_STREAM)).config.max_bytes, 64 * 1024 * 1024, 'the stream keeps the limit it had')
})

t.test('the raw archive is named too', async (t) => {
  const jsm = await jetstreamManager(await connectTest(t, await startTestNats(t)))
  await t.rejects(ensureStreams(jsm, { maxBytes: 64 * 1024 * 1024, rawMaxBytes: PIB }), { code: 'OMNI_ERR_CONFIG', message: /stream OMNI_RAW: .*--raw-max-bytes/ })
})

// A careless operator: both byte limits together more than the server may store. The streams are
// created one after another, so the raw archive (the last one reserved) is the one refused, every
// time; created side by side they passed the server's check together now and then (more reserved
// than it may store) or refused the dead-letter stream instead.
t.test('limits that fit one by one but not together: the raw archive is refused, every time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omni-nats-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(join(dir, 'js'))}, max_file_store: 100MB }\n`)
  const child = spawn((await locateNatsBinary()).path, ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    child.kill('SIGKILL')
    await exited
  })
  let jsm: JetStreamManager | undefined
  for (let i = 0; i < 100 && !jsm; i++) jsm = await connectTest(t, { url: `nats://127.0.0.1:${port}` }).then(jetstreamManager, async () => void (await new Promise((r) => setTimeout(r, 100))))
  if (!jsm) throw new Error('the nats-server did not answer')
  const MIB_60 = 60 * 1024 * 1024
  const outcomes = new Set<string>()
  for (let i = 0; i < 20; i++) {
    for (const s of [EVENTS_STREAM, DLQ_STREAM, RAW_STREAM]) await jsm.streams.delete(s).catch(() => false)
    const refused = await ensureStreams(jsm, { maxBytes: MIB_60, rawMaxBytes: MIB_60 }).then(() => 'nothing refused', (err: Error) => err.message.replace(/:.*/s, ''))
    const names: string[] = []
    for await (const n of jsm.streams.names()) names.push(n)
    outcomes.add(`${refused}; ${names.sort().join(' ')}`)
  }
  t.same([...outcomes], [`stream ${RAW_STREAM}; ${DLQ_STREAM} ${EVENTS_STREAM}`])
})
