import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { pino } from 'pino'
import t from 'tap'
import { publishEvent } from '../../src/ingest/publish.ts'
import { createPublisher } from '../../src/jetstream/publisher.ts'
import { consumerName, EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { eventually, startTestFabric, storedOn } from '../fixtures/fabric.ts'
import { TEST_SOURCE } from '../fixtures/manifests.ts'
import { connectTest } from '../fixtures/nats.ts'
import { noteIds, pipelineConsumer, readAll, repeated, startProducer } from '../fixtures/runtime.ts'

// about 8–15 s on an idle 2-core machine; the bound leaves room for a loaded one
t.setTimeout(90_000)

const OUT = 'omni.evt.test.note-seen.v1'
const AUDIT_OUT = 'omni.evt.test.note-audited.v1'
const TOTAL = 2000

const notes = (version: number) => `kind: Pipeline
name: notes
sources: [${TEST_SOURCE}]
stages:
  - { id: enrich, uses: transform.enrich, with: { set: { version: ${version} } } }
outputs:
  - subject: ${OUT}
`
// the cycle is reported at the first stage on it: stage a's `needs`, line 5
const CYCLE = `kind: Pipeline
name: notes
sources: [${TEST_SOURCE}]
stages:
  - { id: a, uses: transform.enrich, needs: [b], with: { set: { version: 3 } } }
  - { id: b, uses: transform.enrich, needs: [a], with: { set: { version: 3 } } }
outputs:
  - subject: ${OUT}
`
const AUDIT = `kind: Pipeline
name: audit
sources: [${TEST_SOURCE}]
stages:
  - { id: mark, uses: transform.enrich, with: { set: { audited: true } } }
outputs:
  - subject: ${AUDIT_OUT}
`

/** The reload diff a `pipelines reloaded` log line carries. */
const diff = (l: LogLine | undefined) => ({ added: l?.added, changed: l?.changed, removed: l?.removed })

interface LogLine {
  msg: string
  level: number
  added?: string[]
  changed?: string[]
  removed?: string[]
  problems?: { where: string; message: string }[]
}

t.test('pipelines reload when their files change, without losing or duplicating events', async (t) => {
  const logs: LogLine[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) })
  const { fabric, server, dir } = await startTestFabric(t, notes(1), { watch: true, logger })
  const file = join(dir, 'pipelines/p.yaml')
  /** The first log line at or after `from` with message `msg`, waiting up to 10 s. */
  const logAfter = async (from: number, msg: string): Promise<LogLine | undefined> => {
    await eventually(() => logs.slice(from).some((l) => l.msg === msg), 10_000)
    return logs.slice(from).find((l) => l.msg === msg)
  }

  const nc = await connectTest(t, server, 'producer')
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const publisher = createPublisher(nc)
  t.teardown(() => publisher.close())
  const catalog = fabric.catalog()
  const publish = (noteId: string) => publishEvent(publisher, catalog, { type: 'note.created', data: { noteId } })

  // about 700 events a second for 3 s, with the pipeline rewritten half way
  const producer = startProducer(publish, { count: TOTAL, prefix: 'note-', perTick: 7, tickMs: 10 })
  t.ok(await eventually(() => producer.attempted() >= TOTAL / 2, 10_000), 'half the events were published')
  const outputsBeforeEdit = await storedOn(jsm, OUT)
  const mark = logs.length
  await writeFile(file, notes(2))
  const reloaded = await logAfter(mark, 'pipelines reloaded')
  const firstAfterReload = producer.attempted()
  t.same(diff(reloaded), { added: [], changed: ['notes'], removed: [] }, 'the watcher reloaded the changed pipeline')
  t.ok(firstAfterReload < TOTAL, `the reload finished while publishing went on (${firstAfterReload} of ${TOTAL} started)`)
  await producer.done
  t.equal(producer.acked.size, TOTAL, 'every event was acknowledged')

  t.ok(
    await eventually(async () => {
      const info = await pipelineConsumer(jsm, 'notes')
      return info.num_pending === 0 && info.num_ack_pending === 0 && (await storedOn(jsm, OUT)) >= TOTAL
    }, 20_000),
    'every event was processed',
  )
  const outputs = await readAll(js, jsm, OUT)
  const ids = noteIds(outputs)
  t.equal(outputs.length, TOTAL, 'exactly one output per event')
  t.same(repeated(ids), {}, 'no event has two outputs')
  t.same(new Set(ids), producer.acked, 'every event has its output')
  const version = (o: Record<string, unknown>) => (o['data'] as { version?: unknown }).version
  const v1 = outputs.filter((o) => version(o) === 1).length
  const v2 = outputs.filter((o) => version(o) === 2).length
  t.equal(v1 + v2, TOTAL, 'every output was made by version 1 or 2')
  t.ok(v1 > 0 && v2 > 0, `both versions ran: ${v1} × v1, ${v2} × v2`)
  t.ok(outputs.slice(0, outputsBeforeEdit).every((o) => version(o) === 1), `the ${outputsBeforeEdit} outputs stored before the edit are v1`)
  const late = outputs.filter((_, i) => Number(ids[i]?.slice('note-'.length)) >= firstAfterReload)
  t.ok(late.length > 0 && late.every((o) => version(o) === 2), `the ${late.length} events published after the reload are v2`)

  // an invalid file is rejected; the running pipeline keeps working
  const beforeInvalid = logs.length
  await writeFile(file, CYCLE)
  const rejected = await fabric.reload()
  t.equal(rejected.type, 'rejected', 'fabric.reload() rejects the set')
  const problems = rejected.type === 'rejected' ? rejected.problems : []
  t.match(problems, [{ where: /pipelines\/p\.yaml:5:\d+$/, message: 'stages[0].needs: cycle between stages: a → b → a' }], 'the problem names file:line:col and the field')
  t.equal(problems.length, 1, 'one problem')
  t.ok(await logAfter(beforeInvalid, 'manifests changed but are invalid; keeping the running pipelines'), 'the watcher rejected it too')
  await publish('after-invalid')
  t.ok(await eventually(async () => (await storedOn(jsm, OUT)) === TOTAL + 1), 'a new event still produces an output')
  t.same(fabric.pipelines().map((p) => p.levels.flat().map((s) => s.id)), [['enrich']], 'the running pipeline is the valid one')
  t.equal(fabric.workers()[0]?.state, 'running', 'its worker runs')

  // back to a valid file: the same content as the running version, so nothing restarts
  let from = logs.length
  await writeFile(file, notes(2))
  t.same(diff(await logAfter(from, 'pipelines reloaded')), { added: [], changed: [], removed: [] }, 'a fixed file is taken again; unchanged pipelines are left alone')

  // a second pipeline file starts its pipeline, which works through the stream from the start
  from = logs.length
  await writeFile(join(dir, 'pipelines/audit.yaml'), AUDIT)
  const addedDiff = diff(await logAfter(from, 'pipelines reloaded'))
  t.match(addedDiff, { added: ['audit'], removed: [] }, 'the new pipeline was added')
  t.comment(`reported as changed when audit was added: ${JSON.stringify(addedDiff.changed)}`)
  t.same(fabric.workers().map((w) => w.name).sort(), ['audit', 'notes'], 'both workers run')
  t.ok(await eventually(async () => (await storedOn(jsm, AUDIT_OUT)) === TOTAL + 1, 20_000), 'it processed every stored event')

  // deleting it stops its worker but keeps its consumer, so events published meanwhile wait
  from = logs.length
  await rm(join(dir, 'pipelines/audit.yaml'))
  t.match(diff(await logAfter(from, 'pipelines reloaded')), { added: [], removed: ['audit'] }, 'the pipeline was removed')
  t.same(fabric.workers().map((w) => w.name), ['notes'], 'only its worker stopped')
  for (let i = 0; i < 50; i++) await publish(`while-removed-${i}`)
  t.ok(await eventually(async () => (await storedOn(jsm, OUT)) === TOTAL + 51), 'the remaining pipeline goes on')
  t.equal(await storedOn(jsm, AUDIT_OUT), TOTAL + 1, 'the removed pipeline produced nothing more')
  const kept = await jsm.consumers.info(EVENTS_STREAM, consumerName('audit'))
  t.equal(kept.num_pending, 50, 'its consumer holds the events published while it was removed')

  from = logs.length
  await writeFile(join(dir, 'pipelines/audit.yaml'), AUDIT)
  t.match(diff(await logAfter(from, 'pipelines reloaded')), { added: ['audit'], removed: [] }, 'it came back')
  t.ok(await eventually(async () => (await storedOn(jsm, AUDIT_OUT)) === TOTAL + 51, 20_000), 'and caught up')
  const audited = noteIds(await readAll(js, jsm, AUDIT_OUT))
  t.same(repeated(audited), {}, 'without duplicates')
  t.equal(audited.filter((id) => id.startsWith('while-removed-')).length, 50, 'nothing published meanwhile was lost')
})
