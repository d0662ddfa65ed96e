import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { EventRecord } from '../../../src/clickhouse/query-schema.ts'
import type { ObservedCatalog } from '../../../src/clickhouse/observed.ts'
import { eventRow, type EventRow } from '../../../src/clickhouse/rows.ts'
import type { Envelope } from '../../../src/envelope/schema.ts'
import { omni } from '../../fixtures/cli.ts'

const RECEIVED = 'omni.evt.ingest.message-received.v1'
const DELETED = 'omni.evt.ingest.message-deleted.v1'

/**
 * Writes rows into `<data>/clickhouse` from a child process: the CLI opens that folder itself,
 * and the embedded engine lets only one process hold it, so this process never opens it.
 */
function prepare(data: string, rows: readonly EventRow[]): Promise<void> {
  const url = (p: string) => new URL(p, import.meta.url).href
  const script = `
    import { openClickHouse } from ${JSON.stringify(url('../../../src/clickhouse/client.ts'))}
    import { resolveClickHouseConfig } from ${JSON.stringify(url('../../../src/clickhouse/config.ts'))}
    import { migrate } from ${JSON.stringify(url('../../../src/clickhouse/migrations.ts'))}
    let input = ''
    for await (const chunk of process.stdin) input += chunk
    const ch = await openClickHouse(resolveClickHouseConfig({ dataDir: process.argv[1] }))
    await migrate(ch)
    await ch.client.insert({ table: ch.table('omni_events'), values: JSON.parse(input), format: 'JSONEachRow' })
    await ch.close()`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script, data], { stdio: ['pipe', 'inherit', 'pipe'], timeout: 60_000 })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`preparing ${data} failed (${code}): ${stderr}`))))
    child.stdin.end(JSON.stringify(rows))
  })
}

let n = 0
function row(type: string, subject: string, time: string, o: { instance?: string; actor?: string; text?: string } = {}): EventRow {
  n++
  const envelope: Envelope = {
    specversion: '1.0',
    id: `c${n}`,
    source: 'test',
    type,
    time,
    data: { text: o.text ?? `message ${n}` },
    tenant: 't1',
    instance: o.instance ?? 'phone-1',
    ...(o.actor ? { actor: o.actor } : {}),
    visibility: 'local',
    idempotencykey: `key-${n}`,
  }
  return eventRow(envelope, { subject, seq: n, emittedBy: '', pipelines: [] })
}

async function dataDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-events-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('omni events query and omni catalog --observed against a prepared data folder', async (t) => {
  const data = await dataDir(t)
  await prepare(data, [
    row('message.received', RECEIVED, '2026-01-01T10:00:00.000Z', { actor: 'alice', text: 'Hello from Alice' }),
    row('message.received', RECEIVED, '2026-01-02T10:00:00.000Z', { actor: 'bob', text: 'x'.repeat(200) }),
    row('message.received', RECEIVED, '2026-01-03T10:00:00.000Z', { instance: 'phone-2', actor: 'alice' }),
    row('message.deleted', DELETED, '2026-01-04T10:00:00.000Z', { actor: 'carol' }),
  ])

  t.test('--json prints { events, nextCursor }', async (t) => {
    const r = await omni(['events', 'query', '--json', '--data', data])
    t.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { events: EventRecord[]; nextCursor?: string }
    t.same(out.events.map((e) => e.id), ['c4', 'c3', 'c2', 'c1'])
    t.equal(out.nextCursor, undefined)
    t.match(out.events[3], { type: 'message.received', time: '2026-01-01T10:00:00.000Z', instance: 'phone-1', actor: 'alice', streamSeq: 1, payload: { text: 'Hello from Alice' } })
  })

  t.test('filters and pages from flags', async (t) => {
    const base = ['events', 'query', '--json', '--data', data]
    const filtered = await omni([...base, '--type', 'message.received', '--actor', 'alice', '--instance', 'phone-1', '--text', 'hello', '--from', '2026-01-01', '--to', '2026-01-02T00:00:00Z'])
    t.equal(filtered.code, 0, filtered.stderr)
    t.same((JSON.parse(filtered.stdout) as { events: EventRecord[] }).events.map((e) => e.id), ['c1'])
    const first = await omni([...base, '--limit', '3'])
    const page1 = JSON.parse(first.stdout) as { events: EventRecord[]; nextCursor?: string }
    t.same(page1.events.map((e) => e.id), ['c4', 'c3', 'c2'])
    t.ok(page1.nextCursor)
    const second = await omni([...base, '--limit', '3', '--cursor', page1.nextCursor ?? ''])
    const page2 = JSON.parse(second.stdout) as { events: EventRecord[]; nextCursor?: string }
    t.same(page2.events.map((e) => e.id), ['c1'])
    t.notOk(page2.nextCursor, 'the last page has no cursor')
  })

  t.test('a table by default, with a payload preview and the next cursor', async (t) => {
    const r = await omni(['events', 'query', '--data', data, '--limit', '3'])
    t.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    t.match(lines[0], /^TIME\s+TYPE\s+INSTANCE\s+ACTOR\s+SUBJECT\s+PAYLOAD$/)
    t.match(lines[1], /^2026-01-04T10:00:00\.000Z\s+message\.deleted\s+phone-1\s+carol\s+omni\.evt\.ingest\.message-deleted\.v1\s+\{"text":"message 4"\}$/)
    t.match(r.stdout, /"text":"x{40,}…\n/, 'a long payload is cut')
    t.match(r.stdout, /\nmore: --cursor [A-Za-z0-9_-]+\n$/)
    const none = await omni(['events', 'query', '--data', data, '--actor', 'nobody'])
    t.equal(none.stdout, 'no events\n')
  })

  t.test('catalog --observed --json: observed vs mapped vs declared', async (t) => {
    const r = await omni(['catalog', '--observed', '--json', '--data', data, '-m', 'manifests'])
    t.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as ObservedCatalog
    t.same(
      out.observed.map((o) => [o.instance, o.type, o.count, o.status, o.mapped]),
      [
        ['phone-1', 'message.deleted', 1, 'unmapped', []],
        ['phone-1', 'message.received', 2, 'mapped', ['whatsapp-personal']],
        ['phone-2', 'message.received', 1, 'mapped', ['whatsapp-personal']],
      ],
    )
    t.match(out.observed[1], { firstSeen: '2026-01-01T10:00:00.000Z', lastSeen: '2026-01-02T10:00:00.000Z', declared: true })
    const notObserved = out.notObserved.map((d) => d.type)
    t.ok(notObserved.includes('message.reaction') && notObserved.includes('provider.unknown'), 'declared types never seen are listed')
    t.notOk(notObserved.includes('message.received') || notObserved.includes('message.deleted'), 'observed types are not')
    t.equal(notObserved.length, 24, 'the shipped catalog declares 26 types (6 of them the mesh cartridge types), 2 of them observed')
    const scoped = await omni(['catalog', '--observed', '--json', '--instance', 'phone-2', '--tenant', 't1', '--data', data, '-m', 'manifests'])
    t.same((JSON.parse(scoped.stdout) as ObservedCatalog).observed.map((o) => `${o.instance}/${o.type}`), ['phone-2/message.received'])
  })

  t.test('catalog --observed as a table', async (t) => {
    const r = await omni(['catalog', '--observed', '--data', data, '-m', 'manifests'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^INSTANCE\s+TYPE\s+EVENTS\s+FIRST SEEN\s+LAST SEEN\s+STATUS\s+PIPELINES\n/)
    t.match(r.stdout, /\nphone-1\s+message\.deleted\s+1\s+\S+\s+\S+\s+unmapped\s+-\n/)
    t.match(r.stdout, /\nphone-1\s+message\.received\s+2\s+2026-01-01T10:00:00\.000Z\s+2026-01-02T10:00:00\.000Z\s+mapped\s+whatsapp-personal\n/)
    t.match(r.stdout, /\nDeclared, not observed\n/)
    t.match(r.stdout, /\n\s+message\.reaction v1\s+omni\.evt\.ingest\.message-reaction\.v1\s+unmapped\n/)
  })
})

t.test('a bad --from is a clear error, before ClickHouse is opened', async (t) => {
  const data = await dataDir(t)
  const r = await omni(['events', 'query', '--data', data, '--from', 'last tuesday', '--limit', '5000'])
  t.equal(r.code, 1)
  t.match(r.stderr, /^OMNI_ERR_QUERY_INVALID: invalid event query\n/)
  t.match(r.stderr, /\n {2}--from: must be a UTC time such as 2026-11-22T04:00:00Z .*got "last tuesday"\n/)
  t.match(r.stderr, /\n {2}--limit: must be a whole number from 1 to 1000, got 5000\n/)
  t.equal(r.stdout, '')
  t.notOk(existsSync(join(data, 'clickhouse')), 'the data folder was not touched')
})

t.test('a data folder with nothing recorded says so', async (t) => {
  const data = await dataDir(t)
  const r = await omni(['events', 'query', '--data', data])
  t.equal(r.code, 1)
  t.match(r.stderr, /OMNI_ERR_CLICKHOUSE_UNAVAILABLE: no Omni Fabric tables in database omni .*omni migrate --apply/)
  const c = await omni(['catalog', '--instance', 'phone-1'])
  t.equal(c.code, 1)
  t.match(c.stderr, /--instance and --tenant only apply with --observed/)
})

t.test('--help tells the commands and flags', async (t) => {
  const root = await omni(['--help'])
  t.match(root.stdout, /\n {2}events\b/)
  const r = await omni(['events', 'query', '--help'])
  t.equal(r.code, 0)
  for (const flag of ['--type', '--tenant', '--instance', '--actor', '--conversation', '--subject', '--from', '--to', '--text', '--limit', '--cursor', '--json', '--data', '--clickhouse-url']) t.match(r.stdout, new RegExp(`\\n {2}${flag} `), flag)
  const c = await omni(['catalog', '--help'])
  for (const flag of ['--observed', '--instance', '--tenant', '--data']) t.match(c.stdout, new RegExp(`\\n {2}${flag}\\b`), flag)
})

t.test('a row whose stored payload text is not JSON is shown as it is, marked, in the table', async (t) => {
  const data = await dataDir(t)
  const readable = row('message.received', RECEIVED, '2026-01-05T10:00:00.000Z', { text: 'fine' })
  // only a hand-written insert makes such a row: the payload column takes any text
  const broken = { ...row('message.received', RECEIVED, '2026-01-06T10:00:00.000Z'), payload: 'not json {' } as unknown as EventRow
  await prepare(data, [readable, broken])
  const r = await omni(['events', 'query', '--data', data])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.match(lines[1], /\(unreadable\) not json \{$/, 'the stored text, marked, not an empty {}')
  t.match(lines[2], /\{"text":"fine"\}$/, 'the other rows as ever')
})
