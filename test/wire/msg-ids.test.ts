import t from 'tap'
import {
  additiveMsgId,
  deadLetterMsgId,
  ingestMsgId,
  outputMsgId,
  parseDeadLetterMsgId,
  parseOutputMsgId,
  parseRawArchiveId,
  parseRedriveMsgId,
  parseTenantKey,
  tenantKey,
  rawArchiveId,
  redriveMsgId,
} from '../../src/wire/mod.ts'

t.test('an ingested event is stored under its tenant and its idempotency key', async (t) => {
  t.equal(ingestMsgId('acme', 'message.received.v1:abc'), 'in:4.acme:message.received.v1:abc')
  t.not(ingestMsgId('a', 'b:c'), ingestMsgId('a:b', 'c'), 'no tenant and key can pass for another pair')
  t.not(ingestMsgId('acme', 'k'), ingestMsgId('other', 'k'), 'one key in two tenants is two events')
  t.equal(ingestMsgId('acme', 'k', 'webhook:evolution:phone-1'), 'in:webhook:evolution:phone-1/4.acme:k', 'a webhook has its own namespace')
  t.not(ingestMsgId('acme', 'k', 'webhook:evolution:phone-1'), ingestMsgId('acme', 'k'), 'a client key never takes a webhook event\'s id')
  t.equal(ingestMsgId('acme', 'k', 'client'), ingestMsgId('acme', 'k'))
  for (const [tenant, key] of [['a:b', 'c'], ['a', 'b:c'], ['@x', 'y@z'], ['t'.repeat(256), '']]) t.same(parseTenantKey(tenantKey(tenant as string, key as string)), { tenant, key })
  for (const bad of ['acme:k', '9.acme:k', '4.acme-k', 'x.acme:k']) t.equal(parseTenantKey(bad), undefined, bad)
})

t.test('outputs: <key>@<pipeline>@<subject>, read back even when the key holds @', async (t) => {
  const subject = 'omni.evt.notes.note-saved.v1'
  t.equal(outputMsgId('default', 'k1', 'notes', subject), `out:7.default:k1@notes@${subject}`)
  t.same(parseOutputMsgId(outputMsgId('t@1', 'a@b', 'notes', subject), subject), { tenant: 't@1', key: 'a@b', pipeline: 'notes' })
  t.not(outputMsgId('acme', 'k1', 'notes', subject), outputMsgId('other', 'k1', 'notes', subject), 'one key in two tenants is two outputs')
  t.equal(parseOutputMsgId(outputMsgId('default', 'k1', 'notes', subject), 'omni.evt.other.x.v1'), undefined, 'published to another subject')
  t.equal(parseOutputMsgId(`out:k1@${subject}`, subject), undefined, 'no pipeline part')
  t.equal(parseOutputMsgId(`k1@notes@${subject}`, subject), undefined, 'not in the output namespace')
  // the source event's key namespace is part of the id (issue 12 review: webhook ids x outputs)
  const hook = 'webhook:evolution:phone-1'
  t.equal(outputMsgId('acme', 'k1', 'notes', subject, hook), `out:${hook}/4.acme:k1@notes@${subject}`)
  t.not(outputMsgId('acme', 'k1', 'notes', subject, hook), outputMsgId('acme', 'k1', 'notes', subject), "a client's event never takes a webhook event's output id")
  t.not(outputMsgId('acme', 'k1', 'notes', subject, 'out:upstream'), outputMsgId('acme', 'k1', 'notes', subject), "nor another pipeline's output's")
  t.equal(outputMsgId('acme', 'k1', 'notes', subject, 'client'), outputMsgId('acme', 'k1', 'notes', subject))
  t.same(parseOutputMsgId(outputMsgId('a/b', 'x@y/z', 'notes', subject, hook), subject), { tenant: 'a/b', key: 'x@y/z', pipeline: 'notes' })
  t.not(additiveMsgId('notes', 'alpha', 'acme', 'k1', subject, hook), additiveMsgId('notes', 'alpha', 'acme', 'k1', subject), 'additive emissions too')
  // a pipeline on an output of a webhook message: its source's namespace is out:<pipeline>:<origin>
  const chained = `out:upstream:${hook}`
  t.not(outputMsgId('acme', 'k1', 'notes', subject, chained), outputMsgId('acme', 'k1', 'notes', subject, 'out:upstream'), "a chained output of a webhook message is not that of a client's event")
  t.same(parseOutputMsgId(outputMsgId('a/b', 'x@y/z', 'notes', subject, chained), subject), { tenant: 'a/b', key: 'x@y/z', pipeline: 'notes' })
})

t.test('dead letters and redrives: <prefix>:<pipeline>:<seq>', async (t) => {
  t.equal(deadLetterMsgId('notes', 12), 'dlq:notes:12')
  t.equal(redriveMsgId('_recorder', 3), 'redrive:_recorder:3')
  t.same(parseDeadLetterMsgId(deadLetterMsgId('notes', 12)), { pipeline: 'notes', seq: 12 })
  t.same(parseRedriveMsgId(redriveMsgId('_recorder', 3)), { pipeline: '_recorder', seq: 3 })
  for (const bad of ['redrive:notes:1', 'dlq::1', 'dlq:notes:x', 'dlq:notes', 'dlq:a:b:1']) t.equal(parseDeadLetterMsgId(bad), undefined, bad)
})

t.test('raw archive: raw:<rawId>, both the message id and the dataref', async (t) => {
  t.equal(rawArchiveId('AbC_1'), 'raw:AbC_1')
  t.equal(parseRawArchiveId(rawArchiveId('AbC_1')), 'AbC_1')
  t.equal(parseRawArchiveId('raw:'), undefined)
  t.equal(parseRawArchiveId('dlq:notes:1'), undefined)
})
