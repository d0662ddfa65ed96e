import t from 'tap'
import { publishEvent } from '../../../src/ingest/publish.ts'
import { FRAGILE_PIPELINE } from '../../fixtures/api.ts'
import { omni } from '../../fixtures/cli.ts'
import { eventually, startTestFabric, storedOn } from '../../fixtures/fabric.ts'
import { broken } from '../../fixtures/test-cartridges.ts'

const PIPELINE = FRAGILE_PIPELINE

t.test('omni dlq list and redrive', async (t) => {
  const { fabric, server, settled } = await startTestFabric(t, PIPELINE)
  broken.add('d1').add('d2')
  t.teardown(() => void broken.clear())
  for (const id of ['d1', 'd2']) await publishEvent(fabric.publisher, fabric.catalog(), { type: 'note.created', data: { noteId: id } })
  t.ok(await eventually(() => settled.filter((s) => s.type === 'dead-lettered').length === 2))
  const nats = ['--nats', server.url]

  const list = await omni(['dlq', 'list', ...nats])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /#1 .* pipeline=notes stage=fragile attempts=2 type=note\.created from=omni\.evt\.test\.note-created\.v1#1\n\s+note d1 is broken/)
  const json = JSON.parse((await omni(['dlq', 'list', '--json', ...nats])).stdout) as { seq: number; event: { data: { noteId: string } } }[]
  t.same(json.map((l) => l.event.data.noteId), ['d1', 'd2'])
  t.match((await omni(['dlq', 'list', '--stage', 'nope', ...nats])).stdout, /^no dead letters/)

  t.match((await omni(['dlq', 'redrive', '--dry-run', ...nats])).stdout, /^2 dead letter\(s\) would be redriven/)
  broken.clear()
  const redrive = await omni(['dlq', 'redrive', '--pipeline', 'notes', '--limit', '1', ...nats])
  t.equal(redrive.code, 0, redrive.stderr)
  t.match(redrive.stdout, /redriven: 1, already redriven before: 0/)
  t.match((await omni(['dlq', 'redrive', ...nats])).stdout, /redriven: 1, already redriven before: 0/)
  t.match((await omni(['dlq', 'redrive', ...nats])).stdout, /redriven: 0, already redriven before: 0/)
  t.ok(await eventually(async () => (await storedOn(fabric.jsm, 'omni.evt.test.note-seen.v1')) === 2), 'both redriven events went through')
})

t.test('redrive refuses a pipeline that no longer runs and keeps its dead letters', async (t) => {
  const { fabric, server } = await startTestFabric(t, PIPELINE)
  const body = Buffer.from(JSON.stringify({ type: 'note.created' }))
  await fabric.publisher.publish('omni.dlq.gone', body, { msgID: 'gone-1', headers: { 'Omni-Pipeline': 'gone', 'Omni-Stage': 's', 'Omni-Error': 'e', 'Omni-Attempts': '1' } })
  const r = await omni(['dlq', 'redrive', '--pipeline', 'gone', '--nats', server.url])
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_CONFLICT: dead letter\(s\) 1 belong to pipeline "gone", which is not running .* they stay in the DLQ/)
  t.match((await omni(['dlq', 'list', '--pipeline', 'gone', '--nats', server.url])).stdout, /pipeline=gone/)
})


t.test('redrive from the CLI refuses a pipeline the node removed (its consumer still exists), as the API does', async (t) => {
  const { fabric, server } = await startTestFabric(t, PIPELINE)
  const body = Buffer.from(JSON.stringify({ type: 'note.created' }))
  await fabric.publisher.publish('omni.dlq.notes', body, { msgID: 'notes-1', headers: { 'Omni-Pipeline': 'notes', 'Omni-Stage': 's', 'Omni-Error': 'e', 'Omni-Attempts': '1' } })
  await fabric.node.pipelines.remove('notes')
  t.ok(await fabric.jsm.consumers.info('OMNI_EVENTS', 'pipeline-notes'), 'the durable consumer is kept, so checking for it would say "running"')
  const r = await omni(['dlq', 'redrive', '--pipeline', 'notes', '--nats', server.url])
  t.equal(r.code, 1, r.stdout)
  t.match(r.stderr, /OMNI_ERR_CONFLICT: dead letter\(s\) 1 belong to pipeline "notes", which is not running/)
})
