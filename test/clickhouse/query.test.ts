import t from 'tap'
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { compileEventFilter } from '../../src/clickhouse/event-filter.ts'
import { getEvent, queryEvents } from '../../src/clickhouse/query.ts'
import type { EventFilter, EventRecord } from '../../src/clickhouse/query-schema.ts'
import { eventRow, outcomeRows, type EventRow } from '../../src/clickhouse/rows.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import { hasCode, isOmniError } from '../../src/errors/mod.ts'
import { count, openTestClickHouse } from '../fixtures/clickhouse.ts'

const RECEIVED = 'omni.evt.ingest.message-received.v1'
const DELETED = 'omni.evt.ingest.message-deleted.v1'
const PREVIEW = 'omni.evt.observe.message-preview.v1'
const DROP = "x'); DROP TABLE omni_events; --"

interface Spec extends Partial<Omit<Envelope, 'data'>> {
  readonly id: string
  readonly time: string
  readonly data?: Record<string, unknown>
  readonly subject?: string
  readonly emittedBy?: string
  readonly recordedAt?: number
  readonly origin?: string
}

function row(s: Spec): EventRow {
  const { subject, emittedBy, recordedAt, origin, ...e } = s
  const envelope: Envelope = {
    specversion: '1.0',
    source: 'test',
    type: 'message.received',
    tenant: 't1',
    visibility: 'local',
    idempotencykey: `key-${s.id}`,
    ...e,
    data: s.data ?? { text: `text of ${s.id}` },
  }
  return eventRow(envelope, { subject: subject ?? RECEIVED, seq: Number(s.id.replace(/\D/g, '') || 0), emittedBy: emittedBy ?? '', pipelines: [], ...(origin ? { origin } : {}) }, recordedAt)
}

async function insert(ch: ClickHouse, specs: readonly Spec[]): Promise<void> {
  await ch.client.insert({ table: ch.table('omni_events'), values: specs.map(row), format: 'JSONEachRow' })
}

const ids = (events: readonly EventRecord[]) => events.map((e) => e.id)
const sorted = (events: readonly EventRecord[]) => ids(events).sort()

/** A small, varied set shared by the read-only tests. */
const SAMPLE: Spec[] = [
  { id: 'e1', time: '2026-01-01T10:00:00.000Z', instance: 'phone-1', actor: 'alice', conversation: 'c1', provider: 'whatsapp', data: { text: 'Hello World', kind: 'text' } },
  { id: 'e2', time: '2026-01-02T10:00:00.000Z', instance: 'phone-1', actor: 'bob', conversation: 'c1', data: { text: 'Lunch at noon? see https://example.com/menu', kind: 'text' } },
  { id: 'e3', time: '2026-01-03T10:00:00.000Z', type: 'message.deleted', subject: DELETED, instance: 'phone-2', actor: 'alice', conversation: 'c2', data: { providerMessageId: 'm1' } },
  { id: 'e4', time: '2026-01-04T10:00:00.000Z', instance: 'phone-2', actor: 'carol', conversation: 'c3', data: { text: 'She said "Crème brûlée" and left', kind: 'text' } },
  { id: 'e5', time: '2026-01-05T10:00:00.000Z', tenant: 't2', instance: 'phone-1', actor: 'alice', conversation: 'c1', data: { text: 'other tenant', kind: 'text' } },
  // a pipeline output: same key as e1, its own subject
  { id: 'e6', time: '2026-01-01T10:00:00.000Z', idempotencykey: 'key-e1', type: 'message.preview', subject: PREVIEW, emittedBy: 'whatsapp-personal', instance: 'phone-1', actor: 'alice', data: { text: 'Hello' } },
  // values that look like SQL are data like any other
  { id: 'e7', time: '2026-01-06T10:00:00.000Z', instance: 'phone-3', actor: DROP, conversation: "' OR 1=1 --", data: { text: "' OR 1=1 -- {type:String} back\\slash", kind: 'text' } },
]

let shared: Promise<ClickHouse> | undefined
/** One database with SAMPLE for the tests that only read, opened by the first of them. */
function sample(): Promise<ClickHouse> {
  shared ??= openTestClickHouse(t).then(async (ch) => {
    await insert(ch, SAMPLE)
    return ch
  })
  return shared
}

t.test('no filter: every event, newest first, mapped to records', async (t) => {
  const ch = await sample()
  const page = await queryEvents(ch, {})
  t.same(ids(page.events), ['e7', 'e5', 'e4', 'e3', 'e2', 'e6', 'e1'], 'time DESC, then key, then subject DESC')
  t.equal(page.nextCursor, undefined, 'no more pages')
  const e1 = page.events.find((e) => e.id === 'e1')
  t.match(e1, { id: 'e1', type: 'message.received', subject: RECEIVED, time: '2026-01-01T10:00:00.000Z', tenant: 't1', instance: 'phone-1', provider: 'whatsapp', actor: 'alice', idempotencyKey: 'key-e1', streamSeq: 1, payload: { text: 'Hello World', kind: 'text' }, providerMeta: {} })
  t.equal(typeof e1?.streamSeq, 'number')
  t.match(e1?.recordedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.notOk(e1 && 'emittedBy' in e1, 'an ingested event has no emitter')
  t.notOk(e1 && 'causationId' in e1, 'fields the event did not carry are absent')
  t.equal(page.events.find((e) => e.id === 'e6')?.emittedBy, 'whatsapp-personal')
})

t.test('every filter narrows', async (t) => {
  const ch = await sample()
  const cases: [EventFilter, string[]][] = [
    [{ type: 'message.deleted' }, ['e3']],
    [{ type: 'message.received' }, ['e1', 'e2', 'e4', 'e5', 'e7']],
    [{ tenant: 't2' }, ['e5']],
    [{ tenant: 't1' }, ['e1', 'e2', 'e3', 'e4', 'e6', 'e7']],
    [{ instance: 'phone-2' }, ['e3', 'e4']],
    [{ actor: 'alice' }, ['e1', 'e3', 'e5', 'e6']],
    [{ conversation: 'c1' }, ['e1', 'e2', 'e5']],
    [{ subject: PREVIEW }, ['e6']],
    [{ type: 'message.received', instance: 'phone-1', actor: 'alice' }, ['e1', 'e5']],
    [{ type: 'message.received', instance: 'phone-1', actor: 'alice', tenant: 't1' }, ['e1']],
    [{ actor: 'nobody' }, []],
  ]
  for (const [filter, expected] of cases) t.same(sorted((await queryEvents(ch, filter)).events), expected, JSON.stringify(filter))
})

t.test('time range: from inclusive, to exclusive, offsets and dates', async (t) => {
  const ch = await sample()
  const q = async (f: EventFilter) => sorted((await queryEvents(ch, f)).events)
  t.same(await q({ from: '2026-01-04T10:00:00Z' }), ['e4', 'e5', 'e7'])
  t.same(await q({ to: '2026-01-02T10:00:00Z' }), ['e1', 'e6'])
  t.same(await q({ from: '2026-01-02T10:00:00Z', to: '2026-01-04T10:00:00.001Z' }), ['e2', 'e3', 'e4'])
  t.same(await q({ from: '2026-01-03', to: '2026-01-04' }), ['e3'], 'a date is UTC midnight')
  t.same(await q({ from: '2026-01-03T11:00:00+01:00', to: '2026-01-03T10:00:00.001Z' }), ['e3'], 'an offset is honoured')
  t.same(await q({ from: new Date('2026-01-05T00:00:00Z') }), ['e5', 'e7'], 'a Date')
  t.same(await q({ from: '2030-01-01' }), [])
})

t.test('text search is a case-insensitive substring of the payload', async (t) => {
  const ch = await sample()
  const q = async (text: string) => sorted((await queryEvents(ch, { text })).events)
  t.same(await q('hello'), ['e1', 'e6'])
  t.same(await q('HELLO WORLD'), ['e1'])
  t.same(await q('https://example.com/menu'), ['e2'], 'slashes are found (stored as written; rows converted by migration 12 hold \\/, also searched)')
  t.same(await q('"Crème'), ['e4'], 'a quote is found')
  t.same(await q('CRÈME BRÛLÉE'), ['e4'], 'case folding beyond ASCII')
  t.same(await q('back\\slash'), ['e7'], 'a backslash is found')
  t.same(await q('\\'), ['e7'], 'a lone backslash does not match the escapes of the JSON text')
  t.same(await q('"'), ['e4'], 'a lone quote does not match the JSON syntax')
  t.same(await q('/'), ['e2'])
  t.same(await q('m1'), ['e3'], 'any payload field')
  t.same(await q('not there'), [])
  t.same(sorted((await queryEvents(ch, { text: 'hello', subject: RECEIVED })).events), ['e1'], 'combines with the other filters')
})

t.test('limit and cursor page through everything exactly once', async (t) => {
  const ch = await openTestClickHouse(t)
  const specs: Spec[] = []
  // ties on time, and two tenants sharing a key, subject and time: the cursor must still move on
  for (let i = 0; i < 23; i++) specs.push({ id: `p${i}`, time: `2026-02-01T00:00:0${i % 4}.000Z`, idempotencykey: `k${String(i % 12).padStart(2, '0')}`, tenant: i < 12 ? 'ta' : 'tb' })
  specs.push({ id: 'p23', time: '2026-02-01T00:00:00.000Z', idempotencykey: 'k00', subject: PREVIEW, emittedBy: 'x' })
  await insert(ch, specs)
  const all = (await queryEvents(ch, { limit: 1000 })).events
  t.equal(all.length, 24)
  for (const limit of [1, 5, 8, 24, 50]) {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page: Awaited<ReturnType<typeof queryEvents>> = await queryEvents(ch, { limit, ...(cursor ? { cursor } : {}) })
      t.ok(page.events.length <= limit)
      t.ok(page.events.length > 0, 'no empty page')
      seen.push(...ids(page.events))
      cursor = page.nextCursor
      pages++
    } while (cursor && pages < 100)
    t.same(seen, ids(all), `limit ${limit}: the same events in the same order, none twice`)
    t.equal(pages, Math.ceil(24 / limit), `limit ${limit}: ${pages} page(s)`)
  }
  const first = await queryEvents(ch, { tenant: 'ta', limit: 5 })
  const rest = await queryEvents(ch, { tenant: 'ta', limit: 100, cursor: first.nextCursor ?? '' })
  t.same([...ids(first.events), ...ids(rest.events)], ids(all.filter((e) => e.tenant === 'ta')), 'with a filter too')
  t.equal((await queryEvents(ch, {})).events.length, 24, 'default limit 50')
  t.equal((await queryEvents(ch, { limit: 3 })).events.length, 3)
})

t.test('one key from two ways in is two events: the cursor pages through both, an older cursor still works', async (t) => {
  const ch = await openTestClickHouse(t)
  const WEBHOOK = 'webhook:evolution:phone-1'
  // a client's event and a webhook message with the same tenant, key, subject and time
  const same = { time: '2026-02-01T00:00:00.000Z', idempotencykey: 'shared' }
  await insert(ch, [
    { id: 'o1', ...same, data: { text: 'the client' } },
    { id: 'o2', ...same, origin: WEBHOOK, data: { text: 'the provider' } },
    { id: 'o3', time: '2026-01-31T00:00:00.000Z', idempotencykey: 'older' },
  ])
  await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table('omni_events')} FINAL` })
  const all = (await queryEvents(ch, { limit: 10 })).events
  t.same(all.map((e) => [e.id, e.origin]), [['o2', WEBHOOK], ['o1', 'client'], ['o3', 'client']], 'both kept, origin last in the order')
  const seen: string[] = []
  let cursor: string | undefined
  for (let pages = 0; pages < 10; pages++) {
    const page: Awaited<ReturnType<typeof queryEvents>> = await queryEvents(ch, { limit: 1, ...(cursor ? { cursor } : {}) })
    seen.push(...ids(page.events))
    cursor = page.nextCursor
    if (!cursor) break
  }
  t.same(seen, ['o2', 'o1', 'o3'], 'a page of one at a time: none skipped, none twice')
  // a cursor of an earlier release names no origin: the page goes on after every row of its position
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const old = await queryEvents(ch, { cursor: b64(['2026-02-01 00:00:00.000', 'shared', RECEIVED, 't1']) })
  t.same(ids(old.events), ['o3'], 'a cursor of four is still taken')
})

t.test('a label finds the events of the origin whose stage set it, not another origin with the key', async (t) => {
  const ch = await openTestClickHouse(t)
  const WEBHOOK = 'webhook:evolution:phone-1'
  const same = { time: '2026-02-01T00:00:00.000Z', idempotencykey: 'shared' }
  await insert(ch, [
    { id: 'l1', ...same, data: { text: 'the client' } },
    { id: 'l2', ...same, origin: WEBHOOK, data: { text: 'the provider' } },
  ])
  const envelope = (id: string): Envelope => ({ specversion: '1.0', id, source: 'test', type: 'message.received', time: same.time, tenant: 't1', visibility: 'local', idempotencykey: 'shared', data: {} })
  const outcomes = [
    ...outcomeRows({ event: envelope('l1'), pipeline: 'p', seq: 1, attempt: 1, stages: new Map() }, [{ stage: 'classify', type: 'ran', ms: 1, labels: { class: 'spam' } }]),
    ...outcomeRows({ event: envelope('l2'), pipeline: 'p', seq: 2, attempt: 1, stages: new Map(), origin: WEBHOOK }, [{ stage: 'classify', type: 'ran', ms: 1, labels: { class: 'conversation' } }]),
  ]
  await ch.client.insert({ table: ch.table('omni_stage_outcomes'), values: outcomes, format: 'JSONEachRow' })
  t.same(ids((await queryEvents(ch, { label: 'class=spam' })).events), ['l1'], "the client's label stays on the client's event")
  t.same(ids((await queryEvents(ch, { label: 'class=conversation' })).events), ['l2'], "the webhook's on the webhook's")
  t.same(sorted((await queryEvents(ch, { label: 'class' })).events), ['l1', 'l2'])
})

t.test('an event inserted twice is returned once, in its latest version', async (t) => {
  const ch = await openTestClickHouse(t)
  // recorded now: a row recorded longer ago than the retention is dropped by the TTL
  const now = Date.now()
  const base: Spec = { id: 'd1', time: '2026-03-01T00:00:00.000Z', data: { text: 'first' }, recordedAt: now }
  await insert(ch, [base])
  await insert(ch, [base])
  await insert(ch, [{ ...base, data: { text: 'second' }, recordedAt: now + 1000 }])
  t.equal(await count(ch, `SELECT * FROM ${ch.table('omni_events')}`), 3, 'three rows stored')
  const page = await queryEvents(ch, {})
  t.same(ids(page.events), ['d1'])
  t.same(page.events[0]?.payload, { text: 'second' })
  t.same(ids((await queryEvents(ch, { text: 'first' })).events), [], 'filters apply to the latest version, not to a replaced one')
})

t.test('invalid filters report every bad field with its path', async (t) => {
  const ch = await sample()
  const bad = { type: 5, tenant: '', instance: 'x'.repeat(1025), from: 'yesterday', to: '2026-02-30', text: [], limit: 0, cursor: '!!', colour: 'red' }
  const err = await queryEvents(ch, bad as unknown as EventFilter).then(() => undefined, (e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_QUERY_INVALID'))
  t.ok(isOmniError(err) && err.status === 400)
  const problems = isOmniError(err) ? err.problems : []
  t.same(problems.map((p) => p.where).sort(), ['filter.colour', 'filter.cursor', 'filter.from', 'filter.instance', 'filter.limit', 'filter.tenant', 'filter.text', 'filter.to', 'filter.type'])
  t.match(problems.find((p) => p.where === 'filter.from')?.message, /must be a UTC time .* got "yesterday"/)
  t.match(problems.find((p) => p.where === 'filter.limit')?.message, /from 1 to 1000, got 0/)
  const messages = (f: unknown) => {
    try {
      compileEventFilter(f)
      return []
    } catch (e) {
      return isOmniError(e) ? e.problems.map((p) => `${p.where}: ${p.message}`) : [String(e)]
    }
  }
  t.match(messages({ from: '2026-01-02', to: '2026-01-01' }), [/^filter\.to: must be later than filter\.from/])
  t.match(messages({ from: '2026-01-01T10:00:00' }), [/^filter\.from: /], 'a local time without a zone is ambiguous')
  t.match(messages({ from: '1800-01-01' }), [/^filter\.from: must be between the years 1900 and 2299/])
  t.match(messages({ to: new Date(Number.NaN) }), [/^filter\.to: .*an invalid Date/])
  t.match(messages({ limit: 1001 }), [/^filter\.limit: /])
  t.match(messages({ limit: 2.5 }), [/^filter\.limit: /])
  t.match(messages({ limit: '10' }), [/^filter\.limit: /])
  t.match(messages(null), [/^filter: must be an object/])
  t.match(messages(['type']), [/^filter: must be an object/])
  t.same(messages({ from: '2026-01-01T10:00Z', to: '2026-01-01T10:00:00.123456789-05:00', limit: 1000 }), [], 'the accepted forms')
})

t.test('a cursor this query did not return is refused', async (t) => {
  const ch = await sample()
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const cursors = ['', 'not a cursor', 'AAAA', b64({ time: 1 }), b64(['2026-01-01 00:00:00.000', 'k', 's']), b64(['yesterday', 'k', 's', 't']), b64([1, 2, 3, 4]), Buffer.from('[').toString('base64url'), 'x'.repeat(9000)]
  for (const cursor of cursors) {
    const err = await queryEvents(ch, { cursor }).then(() => undefined, (e: unknown) => e)
    t.ok(hasCode(err, 'OMNI_ERR_QUERY_INVALID'), `refused: ${cursor.slice(0, 30)}`)
    t.match(isOmniError(err) ? err.problems : [], [{ where: 'filter.cursor', message: /not a cursor this query returned/ }])
  }
  const forged = b64(["2026-01-06 10:00:00.000' OR 1=1 --", 'k', 's', 't'])
  t.ok(hasCode(await queryEvents(ch, { cursor: forged }).catch((e: unknown) => e), 'OMNI_ERR_QUERY_INVALID'), 'a forged time in a cursor')
  const odd = await queryEvents(ch, { cursor: b64(['2026-01-06 10:00:00.000', DROP, "' OR 1=1 --", '\\']) })
  t.ok(Array.isArray(odd.events), 'a well-formed cursor with odd strings is only a position')
})

t.test('injection attempts in every filter return nothing, raise nothing, and leave the table intact', async (t) => {
  const ch = await sample()
  const table = `SELECT * FROM ${ch.table('omni_events')} FINAL`
  const before = await count(ch, table)
  const attacks = [
    "' OR 1=1 --",
    "' OR '1'='1",
    DROP,
    "'); DROP TABLE omni_events; SELECT ('",
    '{type:String}',
    '{limit:UInt32}',
    "\\' OR 1=1 --",
    '\\',
    '\\\\',
    "1' UNION SELECT * FROM system.tables --",
    '; TRUNCATE TABLE omni_events',
    'é 🎉 \u202e \u0000 \t\n',
    '%',
    '_',
  ]
  const fields = ['type', 'tenant', 'instance', 'actor', 'conversation', 'subject', 'text'] as const
  for (const field of fields) {
    for (const attack of attacks) {
      const page = await queryEvents(ch, { [field]: attack }).catch((e: unknown) => ({ error: e }))
      if ('error' in page) {
        t.fail(`${field}=${JSON.stringify(attack)} raised ${String(page.error)}`)
        continue
      }
      // e7 holds some of these strings as data; a text search may legitimately find it
      const expected = (field === 'actor' && attack === DROP) || (field === 'conversation' && attack === "' OR 1=1 --") ? ['e7'] : field === 'text' && ["' OR 1=1 --", '{type:String}', '\\'].includes(attack) ? ['e7'] : []
      t.same(ids(page.events), expected, `${field}=${JSON.stringify(attack)}`)
    }
  }
  for (const field of ['from', 'to', 'cursor', 'limit'] as const) {
    for (const attack of attacks) {
      const err = await queryEvents(ch, { [field]: attack } as EventFilter).then(() => undefined, (e: unknown) => e)
      t.ok(hasCode(err, 'OMNI_ERR_QUERY_INVALID'), `${field}=${JSON.stringify(attack)} is refused before any SQL runs`)
    }
  }
  t.equal(await count(ch, table), before, 'every row is still there')
  t.same(ids((await queryEvents(ch, { actor: DROP })).events), ['e7'], 'a value that looks like SQL is matched literally')
  t.same(await getEvent(ch, DROP), undefined, 'getEvent too')
})

t.test('getEvent returns the event rows and their stage outcomes', async (t) => {
  const ch = await openTestClickHouse(t)
  await insert(ch, [
    { id: 'g1', time: '2026-04-01T00:00:00.000Z', tenant: 'ta' },
    { id: 'g1', time: '2026-04-01T00:00:00.000Z', tenant: 'ta', subject: PREVIEW, emittedBy: 'p' },
    { id: 'g2', time: '2026-04-01T00:00:00.000Z', tenant: 'tb' },
  ])
  const envelope = { id: 'g1', idempotencykey: 'key-g1', type: 'message.received', tenant: 'ta' } as Envelope
  const stages = new Map([['trust', { uses: 'guard.trust' }], ['dedup', { uses: 'guard.dedup', digest: 'sha256:ab' }]])
  const outcomes = [
    ...outcomeRows({ event: envelope, pipeline: 'zeta', seq: 1, attempt: 1, stages }, [{ type: 'ran', stage: 'trust', ms: 1.23456 }]),
    ...outcomeRows({ event: envelope, pipeline: 'alpha', seq: 1, attempt: 2, stages }, [
      { type: 'ran', stage: 'trust', ms: 2 },
      { type: 'failed', stage: 'dedup', error: 'boom' },
    ], { stage: 'dedup', error: 'boom' }),
  ]
  await ch.client.insert({ table: ch.table('omni_stage_outcomes'), values: outcomes, format: 'JSONEachRow' })
  const detail = await getEvent(ch, 'g1')
  t.same(detail?.events.map((e) => e.subject), [RECEIVED, PREVIEW])
  t.same(detail?.outcomes.map((o) => `${o.pipeline}/${o.stage}:${o.status}`), ['alpha/dedup:dead-lettered', 'alpha/trust:ok', 'zeta/trust:ok'])
  t.match(detail?.outcomes[0], { uses: 'guard.dedup', digest: 'sha256:ab', durationMs: 0, error: 'boom', attempt: 2, streamSeq: 1 })
  t.match(detail?.outcomes[2], { durationMs: 1.235, attempt: 1 })
  t.notOk(detail && 'error' in (detail.outcomes[2] ?? {}), 'no error on a stage that ran')
  t.equal(await getEvent(ch, 'g1', { tenant: 'tb' }), undefined, 'scoped to a tenant')
  t.equal((await getEvent(ch, 'g2', { tenant: 'tb' }))?.events.length, 1)
  t.equal(await getEvent(ch, 'nope'), undefined)
  const err = await getEvent(ch, '', { tenant: '' }).catch((e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_QUERY_INVALID'))
  t.same(isOmniError(err) ? err.problems.map((p) => p.where) : [], ['id', 'tenant'])
})

t.test('a database without the tables is a clear error; other failures pass through', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false })
  const err = await queryEvents(ch, {}).catch((e: unknown) => e)
  t.ok(hasCode(err, 'OMNI_ERR_CLICKHOUSE_UNAVAILABLE'))
  t.match(err, { message: /no Omni Fabric tables in database \w+ .*omni migrate --apply/ })
  await ch.close()
  const closed = await getEvent(ch, 'x').catch((e: unknown) => e)
  t.ok(closed instanceof Error && !isOmniError(closed), 'a closed client’s error is not renamed')
})
