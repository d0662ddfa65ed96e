import t, { type Test } from 'tap'
import type { ClickHouse } from '../../src/clickhouse/client.ts'
import { needlesFor } from '../../src/clickhouse/event-filter.ts'
import { migrate, migrationStatus } from '../../src/clickhouse/migrations.ts'
import { getEvent, queryEvents } from '../../src/clickhouse/query.ts'
import { eventRow, type EventRow } from '../../src/clickhouse/rows.ts'
import { MIGRATIONS } from '../../src/clickhouse/schema.ts'
import { createBatchWriter } from '../../src/clickhouse/writer.ts'
import { PROVIDER_META_KEY, type Envelope } from '../../src/envelope/schema.ts'
import { migratedUpTo, openTestClickHouse, rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'

// Migration 12: omni_events.payload and provider_meta are String. Existing rows carry their
// payload forward as JSON text, the writer stores each payload's JSON text exactly, queries
// read objects back and text search finds what the payload says, not the JSON's syntax.

/** Payloads a JSON column would have changed: nulls, empty objects, dotted keys, key order. */
const TRICKY: Record<string, Record<string, unknown>> = {
  p1: { text: 'Crème BRÛLÉE, "quoted", back\\slash, a/b/c, tab\there, nl\nthere, \u0001 bell', zeta: 1, alpha: 2 },
  p2: { list: [{ a: 1, b: [{ c: 'deep' }] }, { d: null }, [], {}], empty: {}, nothing: null, 'a.b': 'dotted', 'x.y.z': { 'k.l': true } },
  p3: { big: 9007199254740993, max: Number.MAX_SAFE_INTEGER, neg: -1e21, tiny: 5e-324, float: 0.1, zero: -0, ints: [1, -2, 3000000000] },
  p4: { emoji: 'chat 😀 👍🏽', cjk: '漢字', seps: 'line\u2028para\u2029end', rtl: 'שלום', lone: 'x\ud800y' },
  p5: {},
}

function envelope(id: string, data: Record<string, unknown>): Envelope {
  return { specversion: '1.0', id, source: 'test', type: 'note.created', time: '2026-05-01T00:00:00.000Z', tenant: 't1', visibility: 'local', idempotencykey: `key-${id}`, data }
}

function row(id: string, seq: number, data: Record<string, unknown>): EventRow {
  return eventRow(envelope(id, data), { subject: 'omni.evt.test.note-created.v1', seq, emittedBy: '', pipelines: [] })
}

const META = { providerType: 'messages.upsert', 'wa.id': '4915550100', nested: { empty: {}, n: null } }

/** Writes rows the way the sink does: through the batch writer, with its insert settings. */
async function write(ch: ClickHouse, values: readonly EventRow[]): Promise<void> {
  const writer = createBatchWriter<EventRow>(ch, { table: 'omni_events', flushMs: 1 })
  const results = await Promise.all(values.map((r) => writer.write([r])))
  await writer.close()
  if (results.some((r) => r.type !== 'written')) throw new Error(`not written: ${JSON.stringify(results)}`)
}

const byId = <T extends { id: string }>(xs: readonly T[]) => Object.fromEntries(xs.map((x) => [x.id, x]))
const found = async (ch: ClickHouse, text: string) => (await queryEvents(ch, { text })).events.map((e) => e.id).sort()

t.test('a fresh database stores payloads as String', async (t) => {
  const ch = await openTestClickHouse(t)
  const types = await rows<{ name: string; type: string }>(ch, "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = 'omni_events' AND name IN ('payload', 'provider_meta') ORDER BY name", { db: ch.config.database })
  t.same(types, [{ name: 'payload', type: 'String' }, { name: 'provider_meta', type: 'String' }])
})

t.test('payloads round-trip exactly through the writer, queryEvents and getEvent', async (t) => {
  const ch = await openTestClickHouse(t)
  const ids = Object.keys(TRICKY)
  await write(ch, ids.map((id, i) => row(id, i + 1, { ...TRICKY[id], [PROVIDER_META_KEY]: META })))
  const stored = await rows<{ event_id: string; payload: string }>(ch, `SELECT event_id, payload FROM ${ch.table('omni_events')} FINAL`)
  for (const r of stored) t.equal(r.payload, JSON.stringify(TRICKY[r.event_id]), `${r.event_id}: the column holds the payload's JSON text as written`)

  const listed = byId((await queryEvents(ch, { limit: 100 })).events)
  for (const id of ids) {
    t.same(listed[id]?.payload, TRICKY[id], `${id}: queryEvents gives the payload back unchanged`)
    t.strictSame(Object.keys(listed[id]?.payload ?? {}), Object.keys(TRICKY[id] ?? {}), `${id}: key order kept too`)
    t.same(listed[id]?.providerMeta, META, `${id}: provider metadata too`)
    t.notOk(listed[id] && 'unreadable' in listed[id], `${id}: readable`)
  }
  t.ok(Object.is(listed['p3']?.payload['zero'], 0), 'JSON has no -0: it comes back as 0, as JSON.stringify wrote it')
  t.equal(listed['p4']?.payload['lone'], 'x\ud800y', 'a lone surrogate survives (a JSON column refused it)')
  const detail = await getEvent(ch, 'p2')
  t.same(detail?.events[0]?.payload, TRICKY['p2'], 'getEvent too')
  t.same(detail?.events[0]?.providerMeta, META)
})

t.test('text search finds what the payload says, in any case, and not the JSON syntax', async (t) => {
  const ch = await openTestClickHouse(t)
  await write(ch, Object.entries(TRICKY).map(([id, data], i) => row(id, i + 1, data)))
  t.same(await found(ch, 'crème brûlée'), ['p1'], 'é finds É, beyond ASCII')
  t.same(await found(ch, '"quoted"'), ['p1'], 'quotes')
  t.same(await found(ch, 'back\\slash'), ['p1'], 'a backslash')
  t.same(await found(ch, 'a/b/c'), ['p1'], 'slashes as written')
  t.same(await found(ch, 'tab\there'), ['p1'], 'a control character')
  t.same(await found(ch, 'line\u2028para'), ['p4'], 'U+2028 as written')
  t.same(await found(ch, '漢字'), ['p4'])
  t.same(await found(ch, 'dotted'), ['p2'])
  t.same(await found(ch, '":"'), [], 'the JSON between a key and its value is not text')
  t.same(await found(ch, '\\'), ['p1'], 'a lone backslash is not the escapes of the JSON text')
  t.same(await found(ch, '"'), ['p1'], 'a lone quote is not the JSON syntax')
})

t.test('needles: the text as JSON.stringify writes it and as the engine wrote migrated rows', async (t) => {
  t.same(needlesFor('plain'), ['plain'])
  t.same(needlesFor('a"b\\c'), ['a\\"b\\\\c'])
  t.same(needlesFor('a/b'), ['a/b'], 'the rebuild writes `/` as JSON.stringify does')
  t.same(needlesFor('x\u2028y'), ['x\u2028y', 'x\\u2028y'])
  t.same(needlesFor('é'), ['é'], 'non-ASCII is as it is in both')
})

t.test('migrations 12–16 carry every row of a JSON column forward, and are safe to repeat', async (t) => {
  const ch = await openTestClickHouse(t, { migrated: false, config: testClickHouseConfig({ eventsRetentionDays: 90 }) })
  await migratedUpTo(ch, 11)
  const data: Record<string, Record<string, unknown>> = {
    m1: { text: 'Invoice É/2026 "paid"', kind: 'text', n: 42, list: [{ a: 1 }, { b: 'x' }] },
    m2: { text: 'line\u2028sep, back\\slash', deep: { x: { y: [1, 2, 3] } }, f: 1.5, ok: false },
    m3: { text: 'unicode 😀 漢字', big: 12345678901234567 },
    m4: {},
  }
  await ch.client.insert({ table: ch.table('omni_events'), values: Object.entries(data).map(([id, d], i) => row(id, i + 1, { ...d, [PROVIDER_META_KEY]: { providerType: `t${i}` } })), format: 'JSONEachRow' })
  // what the JSON column holds: the payloads as it normalized them (keys sorted, nulls dropped)
  const select = `SELECT event_id, toString(payload) AS payload, toString(provider_meta) AS meta FROM ${ch.table('omni_events')} FINAL ORDER BY event_id`
  const before = (await rows<{ event_id: string; payload: string; meta: string }>(ch, select)).map((r) => ({ id: r.event_id, payload: JSON.parse(r.payload) as unknown, meta: JSON.parse(r.meta) as unknown }))
  t.equal(before.length, 4)

  const report = await migrate(ch)
  t.same(report.applied, [12, 13, 14, 15, 16], 'only the rebuild was pending')
  t.same(report.retentionChanged, [], 'the TTL is as it was')
  const after = (await queryEvents(ch, { limit: 100 })).events.map((e) => ({ id: e.id, payload: e.payload, meta: e.providerMeta })).sort((a, b) => (a.id < b.id ? -1 : 1))
  t.same(after, before, 'every row, with an equal payload and provider metadata')
  t.same(after.map((e) => e.payload), Object.values(data), 'which are the payloads that were written (none here had what a JSON column drops)')
  const text = await rows<{ payload: string }>(ch, `SELECT payload FROM ${ch.table('omni_events')} FINAL WHERE event_id = 'm1'`)
  t.match(text[0]?.payload, /"Invoice É\/2026 \\"paid\\""/, 'the copy writes `/` and non-ASCII as JSON.stringify does')
  t.same(await found(ch, 'é/2026'), ['m1'], 'a migrated row is found by its text, slash and case folding included')
  t.same(await found(ch, '"paid"'), ['m1'])
  t.same(await found(ch, 'line\u2028sep'), ['m2'], 'U+2028, which the engine escaped')
  t.same(await found(ch, 'back\\slash'), ['m2'])
  t.same(await found(ch, '":"'), [])
  const create = (await rows<{ statement: string }>(ch, `SHOW CREATE TABLE ${ch.table('omni_events')}`))[0]?.statement ?? ''
  t.match(create, /`payload` String,[\s\S]*`provider_meta` String,/)
  t.match(create, /TTL toDateTime\(recorded_at\) \+ toIntervalDay\(90\)/, 'the retention TTL is kept')
  t.ok((await migrationStatus(ch)).migrations.every((m) => m.state === 'applied'), 'omni migrate says every migration is applied')

  t.same((await migrate(ch)).applied, [], 'a second run has nothing to do')
  // a run that rebuilt the table and died before its bookkeeping: the next run repeats it harmlessly
  await ch.client.command({ query: `ALTER TABLE ${ch.table('omni_schema_migrations')} DELETE WHERE version >= 12`, clickhouse_settings: { mutations_sync: '2' } })
  t.same((await migrate(ch)).applied, [12, 13, 14, 15, 16], 'repeated over String columns')
  const tables = await rows<{ name: string }>(ch, "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'omni_events%' ORDER BY name", { db: ch.config.database })
  t.same(tables.map((r) => r.name), ['omni_events'], 'no copy or old table is left behind')
  const again = (await queryEvents(ch, { limit: 100 })).events.map((e) => ({ id: e.id, payload: e.payload, meta: e.providerMeta })).sort((a, b) => (a.id < b.id ? -1 : 1))
  t.same(again, before, 'and changed nothing')

  // the retention is still reconciled on the converted table
  const longer = await (await import('../../src/clickhouse/client.ts')).openClickHouse({ ...ch.config, eventsRetentionDays: 120 })
  t.teardown(() => longer.close())
  t.same((await migrate(longer)).retentionChanged.includes('omni_events'), true, 'a changed retention is applied')
  t.match((await rows<{ statement: string }>(longer, `SHOW CREATE TABLE ${longer.table('omni_events')}`))[0]?.statement, /toIntervalDay\(120\)/)
  t.equal(MIGRATIONS.at(-1)?.version, 16)
})

/** The test's payloads with numbers of every kind a JSON column holds as 64-bit. */
const NUMBERS: Record<string, Record<string, unknown>> = {
  n1: { count: 3, ids: [1, 2, 3000000000], neg: -7, f: 1.5, nested: { n: 12345678901234567 } },
  n2: { text: 'a/b', zero: 0 },
}

async function jsonDatabase(t: Test, upTo: number): Promise<{ ch: ClickHouse; before: unknown[] }> {
  const ch = await openTestClickHouse(t, { migrated: false })
  await migratedUpTo(ch, 11)
  await ch.client.insert({ table: ch.table('omni_events'), values: Object.entries(NUMBERS).map(([id, d], i) => row(id, i + 1, d)), format: 'JSONEachRow' })
  // what the JSON column holds, as the API returned it before (numbers as numbers), newest first as queryEvents lists
  const held = await rows<{ payload: string }>(ch, `SELECT toString(payload) AS payload FROM ${ch.table('omni_events')} FINAL ORDER BY stream_seq DESC SETTINGS output_format_json_quote_64bit_integers = 0`)
  const before = held.map((r) => JSON.parse(r.payload) as unknown)
  // the rest of a run that died after step `upTo` (its bookkeeping written)
  for (const m of MIGRATIONS.filter((x) => x.version > 11 && x.version <= upTo)) {
    await ch.client.command({ query: m.sql.replaceAll('{db}', ch.config.database).replaceAll('{ttl:events}', '90') })
    await ch.client.insert({ table: ch.table('omni_schema_migrations'), values: [{ version: m.version, name: m.name, checksum: (await import('../../src/clickhouse/migrations.ts')).checksum(m), applied_at: '2026-01-01 00:00:00.000' }], format: 'JSONEachRow' })
  }
  return { ch, before }
}

t.test('a rebuild that died after any of its steps is finished by the next start, every row kept', async (t) => {
  for (const upTo of [12, 13, 14, 15]) {
    await t.test(`died after migration ${upTo}`, async (t) => {
      const { ch, before } = await jsonDatabase(t, upTo)
      t.same((await migrate(ch)).applied, MIGRATIONS.filter((m) => m.version > upTo).map((m) => m.version), 'the rest of the rebuild runs')
      const after = (await queryEvents(ch, { limit: 100 })).events.map((e) => e.payload)
      t.same(after, before, 'every row, with an equal payload')
      t.equal(after.length, Object.keys(NUMBERS).length, 'no row lost or doubled')
    })
  }
})

t.test('numbers stay numbers when the server quotes 64-bit integers by default (servers before 25.8)', async (t) => {
  const { ch, before } = await jsonDatabase(t, 11)
  // every statement of this handle runs with the setting such a server's default profile has;
  // the copy's own SETTINGS must win over it
  const quoting = { output_format_json_quote_64bit_integers: 1 } as const
  const client = new Proxy(ch.client, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown
      if (key !== 'command' && key !== 'query') return typeof v === 'function' ? v.bind(target) : v
      return (params: { clickhouse_settings?: Record<string, unknown> }) => (v as (p: unknown) => unknown).call(target, { ...params, clickhouse_settings: { ...params.clickhouse_settings, ...quoting } })
    },
  })
  const quotingHandle: ClickHouse = { ...ch, client }
  const probe = await rows<{ s: string }>(quotingHandle, `SELECT toString(payload) AS s FROM ${ch.table('omni_events')} FINAL WHERE event_id = 'n1'`)
  t.match(probe[0]?.s, /"count":"3"/, 'this handle does quote integers: the simulation holds')
  await migrate(quotingHandle)
  const after = (await queryEvents(ch, { limit: 100 })).events.map((e) => e.payload)
  t.same(after, before, 'every number came through as a number')
  t.same(after.find((p) => (p as { count?: unknown }).count !== undefined), NUMBERS['n1'])
})

t.test('a payload whose stored text is not a JSON object does not break a listing', async (t) => {
  const ch = await openTestClickHouse(t)
  await write(ch, [row('ok', 1, { text: 'fine' })])
  const broken = { ...row('bad', 2, {}), payload: 'not json {', provider_meta: '[1,2]' }
  // written by hand, as only something other than Omni Fabric could: the column takes any text
  await ch.client.insert({ table: ch.table('omni_events'), values: [broken], format: 'JSONEachRow' })
  const events = byId((await queryEvents(ch, {})).events)
  t.same(events['ok']?.payload, { text: 'fine' }, 'the other rows are listed as ever')
  t.same(events['bad']?.payload, {}, 'the unreadable payload is an empty object')
  t.same(events['bad']?.providerMeta, {})
  t.same(events['bad']?.unreadable, { payload: 'not json {', providerMeta: '[1,2]' }, 'and its stored text is shown beside it')
  t.same((await getEvent(ch, 'bad'))?.events[0]?.unreadable, { payload: 'not json {', providerMeta: '[1,2]' }, 'by getEvent too')
  t.same(await found(ch, 'not json'), ['bad'], 'text search still reads it')
})
