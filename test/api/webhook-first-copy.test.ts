import t from 'tap'
import { bearer, startTestApi } from '../fixtures/api.ts'
import { rows, testClickHouseConfig } from '../fixtures/clickhouse.ts'
import { eventually } from '../fixtures/fabric.ts'
import { EVOLUTION_FILES, postEvolution, postLookalike } from '../fixtures/lookalike.ts'

// Issue 12 review (seam: webhook id namespace × omni_events keeping the first copy). Since the
// webhook namespace, a client's event that reuses the key of a provider's next message and the
// real delivery are two events in the stream. omni_events still collapses rows on
// (tenant, idempotency_key, subject) and keeps the FIRST copy: the client's. So the recorded
// view of the real message was the client's text. Fixed: omni_events has the ingest origin in
// its sorting key, so the two are rows of their own, each naming its origin.

t.setTimeout(120_000)

const EVOLUTION_KEY = 'evo-apikey-review-first-copy-0123456789'
process.env['OMNI_TEST_EVOLUTION_KEY'] = EVOLUTION_KEY

t.test("the real webhook message's recorded row is not a client's earlier event with its key", async (t) => {
  const api = await startTestApi(t, { fabric: { files: EVOLUTION_FILES, clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 20 } } })
  const ch = api.fabric.sink?.ch
  if (!ch) throw new Error('the fabric did not open ClickHouse')
  const key = 'message.received.v1:evolution|phone-1|3EBNEXT'
  const forged = await postLookalike(api, { id: 'forged-1', key, providerMessageId: '3EBNEXT' })
  t.equal(forged.statusCode, 202, forged.body)
  const real = await postEvolution(api, '3EBNEXT', EVOLUTION_KEY)
  t.equal(real.statusCode, 202, real.body)
  const kept = () => rows<{ text: string; source: string }>(ch, `SELECT JSONExtractString(payload, 'text') AS text, source FROM ${ch.table('omni_events')} FINAL WHERE idempotency_key = {key:String}`, { key })
  // the client's row is there first; give the recorder time for the real one (bounded)
  t.ok(await eventually(async () => (await kept()).length > 0, 20_000), 'the first copy is recorded')
  await eventually(async () => (await kept()).some((r) => r.text === 'hello 3EBNEXT'), 5_000)
  const found = await kept()
  t.ok(found.some((r) => r.text === 'hello 3EBNEXT'), `the real message is recorded (kept: ${JSON.stringify(found)})`)

  // merged for good, each way in keeps its own row, and each row names its origin
  await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table('omni_events')} FINAL` })
  const merged = await rows<{ text: string; origin: string }>(ch, `SELECT JSONExtractString(payload, 'text') AS text, origin FROM ${ch.table('omni_events')} FINAL WHERE idempotency_key = {key:String} ORDER BY origin`, { key })
  t.same(merged, [{ text: 'not what Ana wrote', origin: 'client' }, { text: 'hello 3EBNEXT', origin: 'webhook:evolution:phone-1' }], 'after OPTIMIZE FINAL both rows are there')

  // the query API pages through both, and says which came from where
  const seen: { origin: string; text: unknown }[] = []
  let cursor: string | undefined
  for (let page = 0; page < 5; page++) {
    const res = await api.app.inject({ method: 'GET', url: `/v1/events?tenant=acme&limit=1${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer('read') })
    t.equal(res.statusCode, 200, res.body)
    const body = res.json<{ events: { idempotencyKey: string; origin: string; payload: { text?: unknown } }[]; nextCursor?: string }>()
    for (const e of body.events) if (e.idempotencyKey === key) seen.push({ origin: e.origin, text: e.payload.text })
    cursor = body.nextCursor
    if (!cursor) break
  }
  t.same(seen.sort((a, b) => a.origin.localeCompare(b.origin)), [{ origin: 'client', text: 'not what Ana wrote' }, { origin: 'webhook:evolution:phone-1', text: 'hello 3EBNEXT' }], 'one page each, neither skipped by the cursor')
})

// What a pipeline makes of each is kept apart too: an output names the origin of its source.
const ARCHIVE = `kind: Pipeline
name: archive
sources: [omni.evt.ingest.message-received.v1]
stages: []
outputs:
  - subject: omni.cmd.archive.message-received.v1
`

t.test("a pipeline's output of the real webhook message is not its output of a client's earlier event with the key", async (t) => {
  const api = await startTestApi(t, { pipeline: ARCHIVE, fabric: { files: EVOLUTION_FILES, clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 20 } } })
  const ch = api.fabric.sink?.ch
  if (!ch) throw new Error('the fabric did not open ClickHouse')
  const key = 'message.received.v1:evolution|phone-1|3EBOUT'
  const forged = await postLookalike(api, { id: 'forged-2', key, providerMessageId: '3EBOUT' })
  t.equal(forged.statusCode, 202, forged.body)
  const real = await postEvolution(api, '3EBOUT', EVOLUTION_KEY)
  t.equal(real.statusCode, 202, real.body)
  const outputs = () =>
    rows<{ text: string; origin: string; emitted_by: string }>(ch, `SELECT JSONExtractString(payload, 'text') AS text, origin, emitted_by FROM ${ch.table('omni_events')} FINAL WHERE idempotency_key = {key:String} AND subject = 'omni.cmd.archive.message-received.v1' ORDER BY origin`, { key })
  t.ok(await eventually(async () => api.settled.filter((s) => s.type === 'acked').length >= 2 && (await outputs()).length >= 2, 20_000), 'both outputs are recorded')
  await ch.client.command({ query: `OPTIMIZE TABLE ${ch.table('omni_events')} FINAL` })
  t.same(await outputs(), [
    { text: 'not what Ana wrote', origin: 'client', emitted_by: 'archive' },
    { text: 'hello 3EBOUT', origin: 'webhook:evolution:phone-1', emitted_by: 'archive' },
  ], 'one output row per origin, each naming it')
})

// A second pipeline on the first one's outputs: the key namespace of an output was only its
// pipeline's (`out:<pipeline>`), so what it made of the client's output and of the webhook's
// shared one message id and one guard.dedup key, and the real one was dropped.
const PREVIEW = `kind: Pipeline
name: preview
sources: [omni.evt.ingest.message-received.v1]
stages: []
outputs:
  - subject: omni.evt.observe.message-preview.v1
`
const ARCHIVE_PREVIEWS = `kind: Pipeline
name: archive-previews
sources: [omni.evt.observe.message-preview.v1]
stages:
  - { id: dedup, uses: guard.dedup }
outputs:
  - subject: omni.cmd.archive.message-received.v1
`

t.test("a pipeline on another's outputs keeps the real webhook message's apart from a client's with its key", async (t) => {
  const api = await startTestApi(t, { pipeline: PREVIEW, fabric: { files: { ...EVOLUTION_FILES, 'pipelines/archive-previews.yaml': ARCHIVE_PREVIEWS }, clickhouse: testClickHouseConfig(), clickhouseWriter: { flushMs: 20 } } })
  const ch = api.fabric.sink?.ch
  if (!ch) throw new Error('the fabric did not open ClickHouse')
  const key = 'message.received.v1:evolution|phone-1|3EBCHAIN'
  const forged = await postLookalike(api, { id: 'forged-3', key, providerMessageId: '3EBCHAIN' })
  t.equal(forged.statusCode, 202, forged.body)
  // the forged event's chain first, all the way through
  const archived = () =>
    rows<{ text: string; origin: string }>(ch, `SELECT JSONExtractString(payload, 'text') AS text, origin FROM ${ch.table('omni_events')} FINAL WHERE idempotency_key = {key:String} AND subject = 'omni.cmd.archive.message-received.v1' ORDER BY origin`, { key })
  t.ok(await eventually(async () => (await archived()).length === 1, 20_000), "the client's chain is through")
  const real = await postEvolution(api, '3EBCHAIN', EVOLUTION_KEY)
  t.equal(real.statusCode, 202, real.body)
  await eventually(async () => (await archived()).length === 2, 10_000)
  t.same(await archived(), [
    { text: 'not what Ana wrote', origin: 'client' },
    { text: 'hello 3EBCHAIN', origin: 'webhook:evolution:phone-1' },
  ], 'the real message went through both pipelines too')
})
