import t from 'tap'
import { omniError } from '../../src/errors/mod.ts'
import { isElectionError, whileElecting } from '../../src/jetstream/while-electing.ts'

const named = (name: string, message = name) => Object.assign(new Error(message), { name })

t.test('what an election gives is recognised, nothing else', async (t) => {
  t.ok(isElectionError(named('TimeoutError', 'timeout')))
  t.ok(isElectionError(named('RequestError', "no responders: '$JS.API.STREAM.INFO.KV_omni-dedup'")))
  t.ok(isElectionError(Object.assign(new Error('JetStream system temporarily unavailable'), { api_error: { err_code: 10008 } })))
  t.ok(isElectionError(omniError('OMNI_ERR_NATS_UNAVAILABLE', 'x')))
  t.notOk(isElectionError(named('JetStreamApiError', 'stream name already in use with a different configuration')))
  t.notOk(isElectionError(omniError('OMNI_ERR_NATS_UNAVAILABLE', 'x', { permanent: true })))
  t.notOk(isElectionError(undefined))
})

t.test('retried while it fails as an election does, then its answer', async (t) => {
  let calls = 0
  const v = await whileElecting(async () => {
    if (++calls < 3) throw named('TimeoutError', 'timeout')
    return 'bucket'
  })
  t.equal(v, 'bucket')
  t.equal(calls, 3)
})

t.test('another error goes through at once; an election that outlasts the budget too', async (t) => {
  let calls = 0
  await t.rejects(whileElecting(async () => {
    calls++
    throw named('JetStreamApiError', 'stream name already in use')
  }), /already in use/)
  t.equal(calls, 1)
  calls = 0
  const started = Date.now()
  await t.rejects(whileElecting(async () => {
    calls++
    throw named('TimeoutError', 'timeout')
  }, 600), /timeout/)
  t.ok(calls >= 2 && calls <= 4, `tried ${calls} times within 600 ms`)
  t.ok(Date.now() - started < 2000)
})
