// HTTP ingest side by side, in one run and one arrangement: autocannon in a child process
// posts to (1) an empty Fastify route, the raw ceiling; (2) a hand-written ingest route (publish
// with a msgID, await the PubAck, 202), the denominator; (3) POST /v1/events of the real API on a
// fabric; (4) the WhatsApp (Evolution) webhook. Every request carries its own id and idempotency
// key, and afterwards every 2xx answer must be a message in JetStream.
import { ensureStreams, EVENTS_STREAM, RAW_STREAM } from '../../src/jetstream/topology.ts'
import { rawSubject } from '../../src/wire/mod.ts'
import { BENCH_EVENT_TYPE } from '../lib/fixtures.ts'
import { HAND_CLIENT_OPTIONS, HAND_PATH, startHandIngestServer } from '../lib/hand-ingest.ts'
import type { HttpBodyKind } from '../lib/http-bodies.ts'
import { runHttpLoad, type HttpLoadRun } from '../lib/http-load.ts'
import { startApiServer, startEmptyServer, WEBHOOK_INSTANCE, WEBHOOK_SOURCE, writeHttpManifests, type ApiTarget } from '../lib/http-servers.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { round } from '../lib/stats.ts'
import { storedOn } from '../lib/topology.ts'
import type { BenchContext, Scenario, ScenarioResult } from '../lib/types.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const CONNECTIONS = 50
/** the rows `--profile` profiles: the API's, which runs in the bench process */
const PROFILED: ReadonlySet<string> = new Set(['http.ingest', 'http.webhook'])
/** issue 15: /v1/events keeps at least this share of what the hand-written route answers */
const INGEST_TARGET = 0.8
/** issue 15: the webhook (archive + event, two durable writes) keeps at least this share of it */
const WEBHOOK_TARGET = 0.5
const WEBHOOK_TYPE = 'message.received'

interface RowSpec {
  readonly id: 'http.empty' | 'http.hand' | 'http.ingest' | 'http.webhook'
  readonly title: string
  readonly path: string
  readonly body: HttpBodyKind
}

const EMPTY: RowSpec = { id: 'http.empty', title: 'HTTP empty Fastify route', path: '/empty', body: 'cloudevent' }
const HAND: RowSpec = { id: 'http.hand', title: 'HTTP hand-written ingest route', path: HAND_PATH, body: 'cloudevent' }
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
  /** CPU time per answered request over the warm-up and the run, in µs (bench process, server) */
  readonly cpuPerRequestUs: { readonly bench: number; readonly server?: number }
  /** per durable subject: what the 2xx answers promised and what the stream holds */
  readonly durability: readonly { label: string; accepted: number; stored: number; missing: number; extra: number }[]
  /** with --profile, on the API's rows: the profile over the warm-up and the run */
  readonly profile?: { readonly file: string; readonly busyUsPerRequest: number }
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
  // over the warm-up and the run, as the CPU meter; autocannon is a child and stays out of it
  const profile = PROFILED.has(spec.id) ? await ctx.profiler?.start(spec.id) : undefined
  const cpu = startCpuMeter(ctx.serverPid)
  const meterStarted = performance.now()
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
  } catch (err) {
    await profile?.discard()
    throw err
  } finally {
    clearInterval(ticker)
    bar.stop()
  }
  const cpuShare = cpu.stop()
  const meterSeconds = (performance.now() - meterStarted) / 1000
  if (report.type === 'error') {
    await profile?.discard()
    throw new Error(`${spec.id}: ${report.message}`)
  }
  const answered = Math.max(1, report.warmup.ok2xx + report.warmup.non2xx + report.measured.ok2xx + report.measured.non2xx)
  const profiled = await profile?.stop(answered)
  const accepted = report.warmup.ok2xx + report.measured.ok2xx
  const durability = []
  for (const [i, d] of durable.entries()) {
    const stored = (await settledCount(d, (before[i] ?? 0) + accepted)) - (before[i] ?? 0)
    durability.push({ label: d.label, accepted, stored, missing: Math.max(0, accepted - stored), extra: Math.max(0, stored - accepted) })
  }
  // cores × seconds ÷ requests: steadier than req/s when other work shares the machine
  const perRequest = (cores: number) => round((cores * meterSeconds * 1e6) / answered, 1)
  const cpuPerRequestUs = { bench: perRequest(cpuShare.bench), ...(cpuShare.server === undefined ? {} : { server: perRequest(cpuShare.server) }) }
  return {
    run: report.measured,
    warmup: report.warmup,
    firstBadResponse: report.firstBadResponse,
    cpu: cpuShare,
    cpuPerRequestUs,
    durability,
    ...(profiled ? { profile: { file: profiled.file ?? '', busyUsPerRequest: profiled.busyUsPerEvent } } : {}),
  }
}

/** rate ÷ the row's rate, when that row measured something */
function ratioOf(rate: number, to: ScenarioResult | undefined): number | undefined {
  return to && to.rate > 0 ? rate / to.rate : undefined
}

function toRow(spec: RowSpec, m: Measured, denominator: ScenarioResult | undefined, notes: readonly string[], extra: Record<string, unknown> = {}): ScenarioResult {
  const { run } = m
  const rate = run.seconds > 0 ? run.ok2xx / run.seconds : 0
  const ratio = ratioOf(rate, denominator)
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
    ...(ratio !== undefined && denominator ? { ratio: round(ratio), ratioTo: denominator.id } : {}),
    notes: [
      ...notes,
      `p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms; ${run.non2xx} non-2xx`,
      m.durability.length > 0 ? `stored/accepted incl. warm-up: ${m.durability.map((d) => `${d.stored}/${d.accepted} ${d.label}`).join(', ')}` : '',
      `CPU bench ${m.cpu.bench}${m.cpu.server === undefined ? '' : `, server ${m.cpu.server}`}, generator ${run.generatorCpu} core`,
      m.profile ? `under the CPU profiler (slower): ${m.profile.busyUsPerRequest} µs/request on the JS thread` : '',
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
      cpuPerRequestUs: m.cpuPerRequestUs,
      generator: 'autocannon in a child process, same for every row',
      ...(m.profile ? { profile: m.profile } : {}),
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

/** The row's target against the hand-written route, printed first in its notes. */
function withTarget(row: ScenarioResult, target: number, notes: readonly string[] = []): ScenarioResult {
  const verdict = row.ratio === undefined || row.ratioTo !== HAND.id ? 'not measured (no hand-written row)' : row.ratio >= target ? 'met' : 'MISSED'
  return { ...row, notes: [`target ≥ ${target}× hand-written route ${verdict}`, ...notes, row.notes].filter(Boolean).join('; ') }
}

/** The ratio to the empty route (the raw ceiling), kept as context under a stable key. */
function toEmpty(m: Measured, empty: ScenarioResult): { ratioToEmpty?: number } {
  const ratio = ratioOf(m.run.seconds > 0 ? m.run.ok2xx / m.run.seconds : 0, empty)
  return ratio === undefined ? {} : { ratioToEmpty: round(ratio) }
}

/**
 * The denominator: the hand-written route in the bench process with a NATS connection of its own,
 * as the API row runs (startApiServer), publishing to the bench type's subject in the same events
 * stream, so storage, dedup window and fsync are the API's.
 */
async function measureHand(ctx: BenchContext, empty: ScenarioResult): Promise<ScenarioResult> {
  const subject = ctx.fixtures.catalog.get(BENCH_EVENT_TYPE)?.subject
  if (!subject) throw new Error(`the bench catalog has no ${BENCH_EVENT_TYPE}`)
  // the API's node makes the streams itself; this row runs before it
  await ensureStreams(ctx.jsm)
  const server = await startHandIngestServer({ natsUrl: ctx.url, subject })
  try {
    const m = await load(ctx, HAND, server.url, {}, [{ label: subject, count: () => storedOn(ctx, subject) }])
    return toRow(HAND, m, empty, [`the denominator: same Fastify and options, js.publish(subject, body, { msgID: id }), await the PubAck, 202; same ${m.run.bodyBytes} B body as /v1/events`], {
      client: { ...HAND_CLIENT_OPTIONS, publish: 'js.publish with msgID, one await per request' },
      arrangement: 'in the bench process with a NATS connection of its own, as the API row',
    })
  } finally {
    await server.close()
  }
}

async function measureApi(ctx: BenchContext, api: ApiTarget, empty: ScenarioResult, hand: ScenarioResult): Promise<ScenarioResult[]> {
  const rows: ScenarioResult[] = []
  const catalog = api.node.catalog.current()
  const benchSubject = catalog.get(BENCH_EVENT_TYPE)?.subject
  if (!benchSubject) throw new Error(`the bench catalog has no ${BENCH_EVENT_TYPE}`)
  const ingest = await load(ctx, INGEST, api.url, api.headers, [{ label: benchSubject, count: () => storedOn(ctx, benchSubject) }])
  const raw = publishCeiling(ctx)
  const ingestRow = toRow(
    INGEST,
    ingest,
    hand,
    [`structured CloudEvent, ${ingest.run.bodyBytes} B, bearer token, rate limiter on; ClickHouse off, no pipeline running`],
    { ...toEmpty(ingest, empty), ...(raw ? { publishCeiling: { id: raw.id, rate: raw.rate } } : {}) },
  )
  rows.push(withTarget(ingestRow, INGEST_TARGET, [raw ? `JetStream publish ceiling ${raw.rate.toLocaleString('en-US')}/s` : '']))

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
  rows.push(withTarget(toRow(WEBHOOK, webhook, hand, [`Evolution messages.upsert text, ${webhook.run.bodyBytes} B, no source auth (bearer token); raw archive + 1 event per delivery`], toEmpty(webhook, empty)), WEBHOOK_TARGET))
  return rows
}

export const httpIngest: Scenario = {
  id: 'http-ingest',
  title: 'HTTP ingest: empty Fastify route vs a hand-written ingest route vs POST /v1/events vs the WhatsApp webhook (autocannon)',
  async run(ctx) {
    try {
      const server = await startEmptyServer()
      let emptyRow: ScenarioResult
      try {
        const m = await load(ctx, EMPTY, server.url, {}, [])
        emptyRow = toRow(EMPTY, m, undefined, [`the raw ceiling: same Fastify and options, route returns {ok:true}; same ${m.run.bodyBytes} B body as /v1/events`])
      } finally {
        await server.close()
      }
      const handRow = await measureHand(ctx, emptyRow)
      const api = await startApiServer(ctx, await writeHttpManifests(ctx))
      try {
        return [emptyRow, handRow, ...(await measureApi(ctx, api, emptyRow, handRow))]
      } finally {
        await api.close()
      }
    } finally {
      // on a shared server only bench subjects were written; they go, as the pipeline scenarios' do
      if (!ctx.managed) await ctx.jsm.streams.purge(EVENTS_STREAM, { filter: 'omni.evt.bench.>' }).catch(() => undefined)
    }
  },
}
