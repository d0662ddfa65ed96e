import t from 'tap'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { NODE_BUCKET, readRunningSets, runningPipelines, runningSetWriter } from '../../src/jetstream/running-set.ts'
import { ensurePipelineConsumer, ensureStreams } from '../../src/jetstream/topology.ts'
import { connectTest, startTestNats } from '../fixtures/nats.ts'

t.test('with no node recorded, a pipeline runs while its consumer exists; once recorded, the record decides', async (t) => {
  const server = await startTestNats(t)
  const nc = await connectTest(t, server)
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  await ensureStreams(jsm, { mode: 'upsert' })
  let running = await runningPipelines(js, jsm)
  t.equal(running.source, 'consumers')
  t.equal(await running.isRunning('notes'), false)
  await ensurePipelineConsumer(jsm, { pipeline: 'notes', sources: ['omni.evt.test.note-created.v1'] })
  t.equal(await running.isRunning('notes'), true, 'its durable consumer exists')

  const errors: unknown[] = []
  const writer = runningSetWriter(js, (err) => errors.push(err))
  await writer.write([{ name: 'audit' }])
  running = await runningPipelines(js, jsm)
  t.equal(running.source, 'recorded')
  t.equal(await running.isRunning('audit'), true)
  t.equal(await running.isRunning('notes'), false, 'a consumer alone does not make a pipeline run once nodes record their sets')

  // an operator deletes the bucket: the write reports it and never throws; the next one makes it again
  await jsm.streams.delete(`KV_${NODE_BUCKET}`)
  await writer.write([{ name: 'audit' }])
  t.equal(errors.length, 1, 'the failed write is reported, not thrown')
  await writer.write([{ name: 'audit' }, { name: 'notes' }])
  t.same((await readRunningSets(js))?.map((s) => s.pipelines), [['audit', 'notes']], 'the next write makes the bucket again')

  await writer.close()
  t.equal(await readRunningSets(js), undefined, 'a closed writer takes its entry away')
})
