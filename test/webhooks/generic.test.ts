import t from 'tap'
import { createGenericAdapter, toUtc, type GenericMapping } from '../../src/webhooks/generic.ts'
import { assertCatalogAccepts, delivery, invalidProblems, neutral, providerMeta, shippedCatalog } from '../fixtures/webhooks/harness.ts'

// The generic adapter maps any JSON provider by a YAML mapping: items, paths in the item or in
// the whole body (`$.`), constants, and time/actor/conversation.

const catalog = await shippedCatalog()

/** A help-desk's webhook: one delivery carries several events. */
const HELPDESK: GenericMapping = {
  type: 'kind',
  items: 'events',
  events: {
    'message.created': {
      type: 'message.received',
      data: { kind: { const: 'text' }, providerMessageId: 'id', fromSelf: { const: false }, forwarded: { const: false }, text: 'body.text', quotedMessageId: 'reply_to' },
      time: 'ts',
      actor: 'from.id',
      conversation: 'thread',
    },
    'message.removed': { type: 'message.deleted', data: { providerMessageId: 'id' }, time: '$.sent_at', actor: '$.account.id', conversation: 'thread' },
  },
}

const body = {
  account: { id: 'acc_1042' },
  sent_at: '2025-09-26T04:56:50.250+03:00',
  events: [
    { kind: 'message.created', id: 'msg_7f3a', body: { text: 'Where is my order?' }, from: { id: 'cust_88' }, thread: 'thr_12', ts: 1758851810 },
    { kind: 'message.created', id: 'msg_7f3b', body: { text: 'It shipped today' }, from: { id: 4471 }, thread: 'thr_12', ts: 1758851870123, reply_to: 'msg_7f3a' },
    { kind: 'message.removed', id: 'msg_7f3a', thread: 'thr_12' },
    { kind: 'ticket.assigned', ticket: 'tkt_5', assignee: 'agent_3' },
  ],
}

t.test('a mapping: items, item paths, $. body paths, constants, time/actor/conversation', async (t) => {
  const events = createGenericAdapter(HELPDESK).normalize(delivery('helpdesk', body))
  t.same(events.map((e) => e.type), ['message.received', 'message.received', 'message.deleted', 'provider.unknown'])
  const [first, second, removed, unknown] = events
  t.same(neutral(first!), { kind: 'text', providerMessageId: 'msg_7f3a', fromSelf: false, forwarded: false, text: 'Where is my order?' }, 'an absent field (reply_to) is left out')
  t.match(first, { time: '2025-09-26T01:56:50.000Z', actor: 'cust_88', conversation: 'thr_12' }, 'epoch seconds')
  t.same(neutral(second!), { kind: 'text', providerMessageId: 'msg_7f3b', fromSelf: false, forwarded: false, text: 'It shipped today', quotedMessageId: 'msg_7f3a' })
  t.match(second, { time: '2025-09-26T01:57:50.123Z', actor: '4471' }, 'epoch milliseconds; a numeric actor as text')
  t.same(neutral(removed!), { providerMessageId: 'msg_7f3a' })
  t.match(removed, { time: '2025-09-26T01:56:50.250Z', actor: 'acc_1042', conversation: 'thr_12' }, '$. reads the body; an ISO offset becomes UTC')
  t.same(providerMeta(first!), { event: 'message.created' }, "the provider's type under data._provider")
  // an unmapped provider type is kept, never dropped
  t.same(neutral(unknown!), { providerType: 'ticket.assigned', digest: unknown!.data['digest'], payload: body.events[3] })
  t.match(unknown!.data['digest'], /^[A-Za-z0-9_-]{22}$/)
  assertCatalogAccepts(t, catalog, 'helpdesk', events)
})

t.test('without items the whole body is one event; a $. type path', async (t) => {
  const adapter = createGenericAdapter({ type: '$.event', events: { 'order.paid': { type: 'message.status', data: { targetMessageId: 'order.id', status: { const: 'delivered' } }, conversation: 'order.customer' } } })
  const events = adapter.normalize(delivery('shop', { event: 'order.paid', order: { id: 'ord_9', customer: 'cus_1' } }))
  t.same(events.map((e) => [e.type, neutral(e), e.conversation]), [['message.status', { targetMessageId: 'ord_9', status: 'delivered' }, 'cus_1']])
  assertCatalogAccepts(t, catalog, 'shop', events)
  const missing = invalidProblems(t, () => adapter.normalize(delivery('shop', { order: { id: 'ord_9' } })))
  t.same(missing.map((p) => p.where), ['$.event'], 'a $. type path is reported as is')
})

t.test('errors name the JSON path: a missing type in an item, items that are no array, a body that is no object', async (t) => {
  const adapter = createGenericAdapter(HELPDESK)
  const noType = invalidProblems(t, () => adapter.normalize(delivery('helpdesk', { events: [body.events[0], { id: 'x' }] })))
  t.same(noType, [{ where: '$.events[1].kind', message: 'must be a non-empty string' }])
  const emptyType = invalidProblems(t, () => adapter.normalize(delivery('helpdesk', { events: [{ kind: '' }] })))
  t.same(emptyType.map((p) => p.where), ['$.events[0].kind'])
  const noItems = invalidProblems(t, () => adapter.normalize(delivery('helpdesk', { events: { kind: 'message.created' } })))
  t.same(noItems, [{ where: '$.events', message: 'must be an array' }])
  const notObject = invalidProblems(t, () => adapter.normalize(delivery('helpdesk', 'message.created')))
  t.same(notObject.map((p) => p.where), ['$'])
  const flat = createGenericAdapter({ type: 'kind', events: {} })
  t.same(invalidProblems(t, () => flat.normalize(delivery('x', { id: 1 }))).map((p) => p.where), ['$.kind'], 'without items the path starts at $')
})

t.test('toUtc: epoch seconds and milliseconds (numbers or digits), RFC 3339 with any offset, zone-less as UTC', async (t) => {
  // a server far from UTC: a zone-less time must not be read in it
  const zone = process.env['TZ']
  process.env['TZ'] = 'America/Sao_Paulo'
  t.teardown(() => {
    if (zone === undefined) delete process.env['TZ']
    else process.env['TZ'] = zone
  })
  t.equal(new Date(2025, 0, 1).getTimezoneOffset(), 180, 'the zone took effect')
  t.equal(toUtc(1758851810), '2025-09-26T01:56:50.000Z', 'seconds')
  t.equal(toUtc(1758851810123), '2025-09-26T01:56:50.123Z', 'milliseconds')
  t.equal(toUtc('1758851810'), '2025-09-26T01:56:50.000Z', 'seconds as digits')
  t.equal(toUtc('1758851810123'), '2025-09-26T01:56:50.123Z', 'milliseconds as digits')
  t.equal(toUtc('2025-09-26T04:56:50+03:00'), '2025-09-26T01:56:50.000Z', 'a positive offset')
  t.equal(toUtc('2025-09-25T22:56:50.5-03:00'), '2025-09-26T01:56:50.500Z', 'a negative offset, a fraction')
  t.equal(toUtc('2025-09-26T01:56:50.000000+00:00'), '2025-09-26T01:56:50.000Z', "Discord's microseconds")
  t.equal(toUtc('2025-09-26T01:56:50.064834'), '2025-09-26T01:56:50.064Z', 'no offset: UTC, whatever the server time zone')
  t.equal(toUtc('2025-09-26T01:56:50Z'), '2025-09-26T01:56:50.000Z')
  for (const bad of ['', 'yesterday', null, undefined, {}, Number.NaN, Infinity, 0, -5]) t.equal(toUtc(bad), undefined, `${String(bad)}: unreadable`)
})

t.test('a delivery with more items than one request may carry is refused before any item is mapped', async (t) => {
  const adapter = createGenericAdapter(HELPDESK)
  let read = 0
  // an item that counts its reads: none may happen
  const item = { get kind() {
    read++
    return 'message.created'
  } }
  const many = { events: Array.from({ length: 5 }, () => item) }
  t.throws(() => adapter.normalize({ ...delivery('helpdesk', many), maxEvents: 4 }), { code: 'OMNI_ERR_BODY_TOO_LARGE', message: /holds 5 events; at most 4 fit in one request, so send them in several \(the list at \$\.events\)/ })
  t.equal(read, 0, 'no item was mapped')
  t.equal(adapter.normalize({ ...delivery('helpdesk', { events: many.events.slice(0, 4) }), maxEvents: 4 }).length, 4, 'up to the cap is fine')
})
