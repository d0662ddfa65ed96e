// HTTP ingest side by side, in one run and one arrangement: autocannon in a child process
// posts to (1) an empty Fastify route, the ceiling; (2) POST /v1/events of the real API on a
// fabric; (3) the WhatsApp (Evolution) webhook. Every request carries its own id and
// idempotency key, and afterwards every 2xx answer must be a message in JetStream.
import { EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { rawSubject } from '../../src/wire/mod.ts'
import type { HttpBodyKind } from '../lib/http-bodies.ts'
import { runHttpLoad, type HttpLoadRun } from '../lib/http-load.ts'
import { startApiServer, startEmptyServer, WEBHOOK_INSTANCE, WEBHOOK_SOURCE, writeHttpManifests, type ApiTarget } from '../lib/http-servers.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { round } from '../lib/stats.ts'
import { storedOn } from '../lib/topology.ts'
import type { BenchContext, Scenario, ScenarioResult } from '../lib/types.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const CONNECTIONS = 50
/** the API should keep at least this share of what Fastify alone answers */
const INGEST_TARGET = 0.5
const BENCH_TYPE = 'bench.tick'
const WEBHOOK_TYPE = 'message.received'

interface RowSpec {
  readonly id: 'http.empty' | 'http.ingest' | 'http.webhook'
  readonly title: string
  readonly path: string
  readonly body: HttpBodyKind
}

const EMPTY: RowSpec = { id: 'http.empty', title: 'HTTP empty Fastify route', path: '/empty', body: 'cloudevent' }
const INGEST: RowSpec = { id: 'http.ingest', title: 'HTTP POST /v1/events', path: '/v1/events', body: 'cloudevent' }
const WEBHOOK: RowSpec = { id: 'http.webhook', title: 'HTTP WhatsApp webhook', path: `/v1/webhooks/${WEBHOOK_SOURCE}/${WEBHOOK_INSTANCE}`, body: 'evolution' }

/** What a durable row must find in JetStream, counted before and after the load. */
interface Durable {
  readonly label: string
  count(): Promise<number>
}

interface Measured {
  readonly run: HttpLoadRun
  readonly warmup: HttpLoadRun
  readonly firstBadResponse: string | undefined
  readonly cpu: ReturnType<ReturnType<typeof startCpuMeter>['stop']>
  /** per durable subject: what the 2xx answers promised and what the stream holds */
  readonly durability: readonly { label: string; accepted: number; stored: number; missing: number; extra: number }[]
}

/** Counts until the stream stops growing (answers autocannon cut off at its stop may still land). */
async function settledCount(d: Durable, atLeast: number): Promise<number> {
  let last = await d.count()
  const until = performance.now() + 5000
  while (performance.now() < until) {
    await sleep(last >= atLeast ? 150 : 50)
    const now = await d.count()
    if (now === last && now >= atLeast) return now
    last = now
  }
  return last
}

async function load(ctx: BenchContext, spec: RowSpec, baseUrl: string, headers: Readonly<Record<string, string>>, durable: readonly Durable[]): Promise<Measured> {
  const durationMs = ctx.sizes.httpSeconds * 1000
  const warmupMs = Math.max(250, ctx.sizes.warmupSeconds * 1000)
  const before = await Promise.all(durable.map((d) => d.count()))
  const bar = ctx.progress(`${spec.id}: load (s)`, Math.ceil((warmupMs + durationMs) / 1000))
  const started = performance.now()
  const ticker = setInterval(() => bar.update(Math.floor((performance.now() - started) / 1000)), 250)
  const cpu = startCpuMeter(ctx.serverPid)
  let report
  try {
    report = await runHttpLoad({
      url: `${baseUrl}${spec.path}`,
      headers,
      body: spec.body,
      run: `${ctx.runId}-${spec.id.slice(5)}`,
      instance: WEBHOOK_INSTANCE,
      connections: CONNECTIONS,
      warmupMs,
      durationMs,
      timeoutMs: warmupMs + durationMs + 30_000,
    })
  } finally {
    clearInterval(ticker)
    bar.stop()
  }
  const cpuShare = cpu.stop()
  if (report.type === 'error') throw new Error(`${spec.id}: ${report.message}`)
  const accepted = report.warmup.ok2xx + report.measured.ok2xx
  const durability = []
  for (const [i, d] of durable.entries()) {
    const stored = (await settledCount(d, (before[i] ?? 0) + accepted)) - (before[i] ?? 0)
    durability.push({ label: d.label, accepted, stored, missing: Math.max(0, accepted - stored), extra: Math.max(0, stored - accepted) })
  }
  return { run: report.measured, warmup: report.warmup, firstBadResponse: report.firstBadResponse, cpu: cpuShare, durability }
}

function toRow(spec: RowSpec, m: Measured, ceiling: ScenarioResult | undefined, notes: readonly string[], extra: Record<string, unknown> = {}): ScenarioResult {
  const { run } = m
  const rate = run.seconds > 0 ? run.ok2xx / run.seconds : 0
  const ratio = ceiling && ceiling.rate > 0 ? rate / ceiling.rate : undefined
  const problems = [
    run.non2xx > 0 ? `${run.non2xx} non-2xx (first: ${m.firstBadResponse ?? '?'})` : '',
    run.errors > 0 ? `${run.errors} connection errors (${run.timeouts} timeouts)` : '',
    ...m.durability.flatMap((d) => [
      d.missing > 0 ? `FAILED: ${d.missing} of ${d.accepted} accepted requests are not in JetStream (${d.label})` : '',
      // autocannon drops up to one in-flight answer per connection when a run stops (the server
      // stores those anyway); two runs, so more than that is something else
      d.extra > 2 * CONNECTIONS ? `FAILED: ${d.extra} more stored than accepted (${d.label})` : '',
    ]),
  ]
  return {
    id: spec.id,
    scenario: 'http-ingest',
    title: spec.title,
    events: run.ok2xx,
    seconds: round(run.seconds, 3),
    rate: Math.round(rate),
    ...(ratio !== undefined ? { ratio: round(ratio), ratioTo: 'http.empty' } : {}),
    notes: [
      ...notes,
      `p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; ${run.non2xx} non-2xx`,
      m.durability.length > 0 ? `stored/accepted incl. warm-up: ${m.durability.map((d) => `${d.stored}/${d.accepted} ${d.label}`).join(', ')}` : '',
      `CPU bench ${m.cpu.bench}${m.cpu.server === undefined ? '' : `, server ${m.cpu.server}`}, generator ${run.generatorCpu} core`,
      ...problems,
    ]
      .filter(Boolean)
      .join('; '),
    details: {
      connections: CONNECTIONS,
      path: spec.path,
      bodyBytes: run.bodyBytes,
      latencyMs: run.latencyMs,
      statusCodes: run.statusCodes,
      non2xx: run.non2xx,
      errors: run.errors,
      timeouts: run.timeouts,
      requestsSent: run.sent,
      warmup: { seconds: m.warmup.seconds, ok2xx: m.warmup.ok2xx, non2xx: m.warmup.non2xx },
      durability: m.durability,
      verified: m.durability.every((d) => d.missing === 0 && d.extra <= 2 * CONNECTIONS) && run.non2xx === 0,
      ...(m.firstBadResponse !== undefined ? { firstBadResponse: m.firstBadResponse } : {}),
      // bench and server over the warm-up and the run; the generator over the run alone
      cpu: { ...m.cpu, generator: run.generatorCpu },
      generator: 'autocannon in a child process, same for every row',
      ...extra,
    },
  }
}

function skipped(spec: RowSpec, reason: string): ScenarioResult {
  return { id: spec.id, scenario: 'http-ingest', title: spec.title, events: 0, seconds: 0, rate: 0, notes: `skipped: ${reason}`, details: { skipped: true, reason } }
}

/** The raw JetStream ceiling of this run, when publish-ceiling ran first: what any ingest pays per event. */
function publishCeiling(ctx: BenchContext): ScenarioResult | undefined {
  return ctx.results.get('publish-ceiling.fast-msgid')
}

async function streamCount(ctx: BenchContext, stream: string, subject: string): Promise<number> {
  const info = await ctx.jsm.streams.info(stream, { subjects_filter: subject })
  return info.state.subjects?.[subject] ?? 0
}

async function measureApi(ctx: BenchContext, api: ApiTarget, empty: ScenarioResult): Promise<ScenarioResult[]> {
  const rows: ScenarioResult[] = []
  const catalog = api.node.catalog.current()
  const benchSubject = catalog.get(BENCH_TYPE)?.subject
  if (!benchSubject) throw new Error(`the bench catalog has no ${BENCH_TYPE}`)
  const ingest = await load(ctx, INGEST, api.url, api.headers, [{ label: benchSubject, count: () => storedOn(ctx, benchSubject) }])
  const raw = publishCeiling(ctx)
  const ingestRow = toRow(INGEST, ingest, empty, [
    `structured CloudEvent, ${ingest.run.bodyBytes} B, bearer token, rate limiter on; ClickHouse off, no pipeline running`,
  ], raw ? { publishCeiling: { id: raw.id, rate: raw.rate } } : {})
  const met = (ingestRow.ratio ?? 0) >= INGEST_TARGET
  rows.push({
    ...ingestRow,
    notes: [`target ≥ ${INGEST_TARGET}× empty route ${met ? 'met' : 'NOT met'}`, raw ? `JetStream publish ceiling ${raw.rate.toLocaleString('en-US')}/s` : '', ingestRow.notes].filter(Boolean).join('; '),
  })

  if (!ctx.managed) {
    rows.push(skipped(WEBHOOK, 'on a shared server (--nats): webhooks write message.received events and raw payloads outside the bench subjects'))
    return rows
  }
  if (!api.node.ingest.webhooks().find(WEBHOOK_SOURCE, WEBHOOK_INSTANCE)) {
    rows.push(skipped(WEBHOOK, `the fabric did not register the ${WEBHOOK_SOURCE} webhook source`))
    return rows
  }
  const messageSubject = catalog.get(WEBHOOK_TYPE)?.subject
  if (!messageSubject) throw new Error(`the messaging catalog has no ${WEBHOOK_TYPE}`)
  const rawSubj = rawSubject(WEBHOOK_SOURCE, WEBHOOK_INSTANCE)
  const webhook = await load(ctx, WEBHOOK, api.url, api.headers, [
    { label: messageSubject, count: () => storedOn(ctx, messageSubject) },
    { label: rawSubj, count: () => streamCount(ctx, RAW_STREAM, rawSubj) },
  ])
  rows.push(toRow(WEBHOOK, webhook, empty, [`Evolution messages.upsert text, ${webhook.run.bodyBytes} B, no source auth (bearer token); raw archive + 1 event per delivery`]))
  return rows
}

export const httpIngest: Scenario = {
  id: 'http-ingest',
  title: 'HTTP ingest: empty Fastify route vs POST /v1/events vs the WhatsApp webhook (autocannon)',
  async run(ctx) {
    const server = await startEmptyServer()
    let emptyRow: ScenarioResult
    try {
      const m = await load(ctx, EMPTY, server.url, {}, [])
      emptyRow = toRow(EMPTY, m, undefined, [`the ceiling: same Fastify and options, route returns {ok:true}; same ${m.run.bodyBytes} B body as /v1/events`])
    } finally {
      await server.close()
    }
    const api = await startApiServer(ctx, await writeHttpManifests(ctx))
    try {
      return [emptyRow, ...(await measureApi(ctx, api, emptyRow))]
    } finally {
      await api.close()
      // on a shared server only bench subjects were written; they go, as the pipeline scenarios' do
      if (!ctx.managed) await ctx.jsm.streams.purge(EVENTS_STREAM, { filter: 'omni.evt.bench.>' }).catch(() => undefined)
    }
  },
}
