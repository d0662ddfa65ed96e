// A worker process SIGKILLed between its ClickHouse inserts and its acks: the replacement gets
// those events again and writes their rows again; the tables still hold each row once.
// In its own file: the embedded engine binds one data folder per process, and here the folder
// belongs to the worker processes until the end, when this process opens it to check.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import t from 'tap'
import { openClickHouse } from '../../src/clickhouse/client.ts'
import { resolveClickHouseConfig } from '../../src/clickhouse/config.ts'
import { RECORDER } from '../../src/clickhouse/recorder.ts'
import { publishEvent } from '../../src/ingest/publish.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { loadManifestsOrThrow } from '../../src/manifests/load.ts'
import { count } from '../fixtures/clickhouse.ts'
import { eventually, storedOn } from '../fixtures/fabric.ts'
import { TEST_CATALOG, testLookup, writeManifests } from '../fixtures/manifests.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'
import { pipelineConsumer, spawnWorker } from '../fixtures/runtime.ts'

t.setTimeout(120_000)

const N = 400
const OUT = 'omni.evt.test.note-seen.v1'
const PIPELINE = `kind: Pipeline
name: notes
sources: [omni.evt.test.note-created.v1]
stages:
  - { id: rec, uses: test.record }
outputs:
  - subject: ${OUT}
`

t.test('a worker killed between insert and ack: every event and outcome is in ClickHouse exactly once', async (t) => {
  const server = await startTestNats(t)
  const manifests = await writeManifests(t, { 'catalog.yaml': TEST_CATALOG, 'pipelines/p.yaml': PIPELINE })
  const data = mkdtempSync(join(tmpdir(), 'omni-ch-crash-'))
  t.teardown(() => rmSync(data, { recursive: true, force: true }))
  const env = { OMNI_TEST_CLICKHOUSE_DATA: data, OMNI_TEST_CLICKHOUSE_DB: 'crash' }

  const victim = spawnWorker(t, server.url, manifests, { maxInFlight: 16, batch: 32, env: { ...env, OMNI_TEST_CRASH_BEFORE_ACK: '150' } })
  await victim.ready
  const { catalog } = await loadManifestsOrThrow(manifests, testLookup)
  const nc = await connectTest(t, server)
  const jsm = await jetstreamManager(nc)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  await Promise.all(Array.from({ length: N }, (_, i) => publishEvent(publisher, catalog, { type: 'note.created', data: { noteId: `c${i}` } })))

  t.equal(await victim.exited, 'SIGKILL', 'the worker killed itself right before an ack, after its writes')
  const atCrash = await pipelineConsumer(jsm, 'notes')
  t.ok(atCrash.num_ack_pending + atCrash.num_pending > 0, 'it left events behind')

  const heir = spawnWorker(t, server.url, manifests, { maxInFlight: 256, env })
  await heir.ready
  const settled = async () => {
    const [p, r] = await Promise.all([pipelineConsumer(jsm, 'notes'), pipelineConsumer(jsm, RECORDER)])
    return p.num_pending + p.num_ack_pending + r.num_pending + r.num_ack_pending === 0
  }
  t.ok(await eventually(settled, 60_000), 'the replacement worker settled every event')
  t.equal(await heir.stop(), 0, 'and stopped cleanly')
  t.equal(await storedOn(jsm, OUT), N, 'one output per event in the stream')

  // the worker processes are gone: now this process may open the folder
  const ch = await openClickHouse(resolveClickHouseConfig({ dataDir: data, database: 'crash' }))
  t.teardown(() => ch.close())
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_events')} FINAL`), 2 * N, 'inputs and outputs once each')
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_stage_outcomes')} FINAL`), N, 'one outcome per event')
  t.equal(await count(ch, `SELECT DISTINCT stream_seq FROM ${ch.table('omni_stage_outcomes')} FINAL`), N, 'for N distinct stream messages')
})
