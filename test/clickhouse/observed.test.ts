import t from 'tap'
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { observedCatalog, type DeclaredType, type PipelineSources } from '../../src/clickhouse/observed.ts'
import { eventRow, type EventRow } from '../../src/clickhouse/rows.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import { hasCode, isOmniError } from '../../src/errors/mod.ts'
import { openTestClickHouse } from '../fixtures/clickhouse.ts'

const RECEIVED = 'omni.evt.ingest.message-received.v1'
const RECEIVED_V2 = 'omni.evt.ingest.message-received.v2'
const DELETED = 'omni.evt.ingest.message-deleted.v1'
const REACTION = 'omni.evt.ingest.message-reaction.v1'
const EDITED = 'omni.evt.ingest.message-edited.v1'
const CUSTOM = 'omni.evt.other.custom-thing.v1'

const PIPELINES: PipelineSources[] = [
  { name: 'whatsapp-personal', sources: [RECEIVED] },
  { name: 'archive', sources: ['omni.evt.ingest.message-received.*', 'omni.cmd.>'] },
  { name: 'reactions', sources: [REACTION] },
]
const DECLARED: DeclaredType[] = [
  { type: 'message.received', version: 1, subject: RECEIVED },
  { type: 'message.deleted', version: 1, subject: DELETED },
  { type: 'message.reaction', version: 1, subject: REACTION },
  { type: 'message.edited', version: 1, subject: EDITED },
]

let n = 0
function row(type: string, subject: string, time: string, o: { instance?: string; tenant?: string; emittedBy?: string; key?: string } = {}): EventRow {
  n++
  const envelope: Envelope = {
    specversion: '1.0',
    id: `o${n}`,
    source: 'test',
    type,
    time,
    data: {},
    tenant: o.tenant ?? 't1',
    ...(o.instance ? { instance: o.instance } : {}),
    visibility: 'local',
    idempotencykey: o.key ?? `key-${n}`,
  }
  return eventRow(envelope, { subject, seq: n, emittedBy: o.emittedBy ?? '', pipelines: [] })
}

async function seeded(): Promise<ClickHouse> {
  const ch = await openTestClickHouse(t)
  const values = [
    row('message.received', RECEIVED, '2026-01-02T00:00:00.000Z', { instance: 'phone-1', key: 'dup' }),
    row('message.received', RECEIVED, '2026-01-02T00:00:00.000Z', { instance: 'phone-1', key: 'dup' }), // the same event again
    row('message.received', RECEIVED, '2026-01-01T00:00:00.000Z', { instance: 'phone-1' }),
    row('message.received', RECEIVED, '2026-01-03T12:30:00.250Z', { instance: 'phone-1' }),
    row('message.deleted', DELETED, '2026-01-04T00:00:00.000Z', { instance: 'phone-1' }),
    // a pipeline's output is not something the instance sent
    row('message.preview', 'omni.evt.observe.message-preview.v1', '2026-01-02T00:00:00.000Z', { instance: 'phone-1', emittedBy: 'whatsapp-personal' }),
    row('message.received', RECEIVED_V2, '2026-01-05T00:00:00.000Z', { instance: 'phone-2' }),
    row('custom.thing', CUSTOM, '2026-01-06T00:00:00.000Z', { instance: 'phone-2' }),
    row('message.received', RECEIVED, '2026-01-07T00:00:00.000Z', { instance: 'phone-1', tenant: 't2' }),
    row('message.deleted', DELETED, '2026-01-08T00:00:00.000Z'),
  ]
  await ch.client.insert({ table: ch.table('omni_events'), values, format: 'JSONEachRow' })
  return ch
}

t.test('per instance and type: counts, first and last seen, mapped or unmapped, and the gaps', async (t) => {
  const ch = await seeded()
  const r = await observedCatalog(ch, {}, PIPELINES, DECLARED)
  t.same(
    r.observed.map((o) => [o.instance, o.type, o.count, o.status, o.mapped, o.declared]),
    [
      ['', 'message.deleted', 1, 'unmapped', [], true],
      ['phone-1', 'message.deleted', 1, 'unmapped', [], true],
      ['phone-1', 'message.received', 4, 'mapped', ['archive', 'whatsapp-personal'], true],
      ['phone-2', 'custom.thing', 1, 'unmapped', [], false],
      ['phone-2', 'message.received', 1, 'mapped', ['archive'], false],
    ],
    'the duplicate counts once, outputs not at all; v2 is mapped only by the wildcard and not declared',
  )
  const received = r.observed.find((o) => o.instance === 'phone-1' && o.type === 'message.received')
  t.equal(received?.firstSeen, '2026-01-01T00:00:00.000Z')
  t.equal(received?.lastSeen, '2026-01-07T00:00:00.000Z', 'across tenants when none is given')
  t.same(received?.subjects, [RECEIVED])
  t.same(r.notObserved, [
    { type: 'message.edited', version: 1, subject: EDITED, mapped: [] },
    { type: 'message.reaction', version: 1, subject: REACTION, mapped: ['reactions'] },
  ])
})

t.test('scoped to an instance or a tenant', async (t) => {
  const ch = await seeded()
  const phone1 = await observedCatalog(ch, { instance: 'phone-1', tenant: 't1' }, PIPELINES, DECLARED)
  t.same(phone1.observed.map((o) => `${o.type}:${o.count}`), ['message.deleted:1', 'message.received:3'])
  t.equal(phone1.observed.find((o) => o.type === 'message.received')?.lastSeen, '2026-01-03T12:30:00.250Z')
  t.same(phone1.notObserved.map((d) => d.type), ['message.edited', 'message.reaction'])
  const phone2 = await observedCatalog(ch, { instance: 'phone-2' }, PIPELINES, DECLARED)
  t.same(phone2.notObserved.map((d) => d.type), ['message.deleted', 'message.edited', 'message.reaction', 'message.received'], 'v2 seen is not v1 seen')
  const t2 = await observedCatalog(ch, { tenant: 't2' }, PIPELINES)
  t.same(t2.observed.map((o) => `${o.instance}/${o.type}:${o.count}`), ['phone-1/message.received:1'])
  t.same(t2.notObserved, [], 'no catalog given, no gaps listed')
  const none = await observedCatalog(ch, { instance: 'phone-9' }, [], DECLARED)
  t.same(none.observed, [])
  t.equal(none.notObserved.length, 4)
  t.same(none.notObserved.map((d) => d.mapped), [[], [], [], []], 'no pipelines: nothing mapped')
})

t.test('the scope is a parameter: injection attempts find nothing and change nothing', async (t) => {
  const ch = await seeded()
  for (const attack of ["' OR 1=1 --", "x'); DROP TABLE omni_events; --", '{instance:String}', '\\', 'é🎉']) {
    const r = await observedCatalog(ch, { instance: attack, tenant: attack }, PIPELINES)
    t.same(r.observed, [], JSON.stringify(attack))
  }
  t.equal((await observedCatalog(ch, {}, PIPELINES)).observed.length, 5, 'the table is intact')
  const err = await observedCatalog(ch, { instance: '', tenant: 5 as unknown as string }, PIPELINES).catch((e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_QUERY_INVALID'))
  t.same(isOmniError(err) ? err.problems.map((p) => p.where) : [], ['scope.instance', 'scope.tenant'])
})
