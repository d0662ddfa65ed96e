// The ClickHouse sink, embedded (chdb, in this process). Two questions: how many omni_events rows
// per second the engine takes through the fabric's batch writer, and what the pipeline end to
// end costs with the sink on (stage outcomes written before each ack, every event and output
// recorded into omni_events), beside the raw consume+ack ceiling and the pipeline without the
// sink from the same run. Both say how long the event loop was held up, since the engine shares
// the process with the worker.
import { randomUUID } from 'node:crypto'
import type { PreparedEvent } from '../../src/ingest/prepare.ts'
import { createOutcomeSink } from '../../src/clickhouse/outcome-sink.ts'
import { eventRow, type EventRow, type OutcomeRow } from '../../src/clickhouse/rows.ts'
import { createBatchWriter, type BatchWriter, type WriteResult } from '../../src/clickhouse/writer.ts'
import { benchEvent } from '../lib/fixtures.ts'
import { startCpuMeter, startLoopMeter } from '../lib/machine.ts'
import { prePublish } from '../lib/publish.ts'
import { openBenchClickHouse, removeEngineData, type BenchClickHouse, type InsertStats } from '../lib/sink.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, storedOn } from '../lib/topology.ts'
import { bestRow, type BenchContext, type Scenario, type ScenarioResult } from '../lib/types.ts'
import { startBenchWorker } from '../lib/worker.ts'
import { WRITER_DEFAULTS } from '../../src/clickhouse/writer.ts'

/** the recorder's max_ack_pending: at most this many of its rows wait in the writer */
const RECORDER_IN_FLIGHT = 4096
/** the recorder's pull batch: its rows arrive in turns of at most this many */
const RECORDER_PULL = 512
/** issue 15's target for the end-to-end rate with the sink, as a share of the same pipeline without it (pipeline-e2e of the run) */
const TARGET_RATIO = 0.6

const SHAPES: readonly { id: string; title: string; window: number; note: string }[] = [
  { id: 'sink.insert', title: 'sink: omni_events inserts', window: RECORDER_IN_FLIGHT, note: `fed as the recorder feeds it (≤ ${RECORDER_IN_FLIGHT} rows waiting, ${RECORDER_PULL} a turn)` },
  {
    id: 'sink.insert.full-batches',
    title: 'sink inserts, full batches',
    window: 4 * WRITER_DEFAULTS.maxRows,
    note: `diagnostic: ${4 * WRITER_DEFAULTS.maxRows} rows waiting, so every batch fills to maxRows`,
  },
]

/** A row per event like the recorder's: a realistic envelope, made unique by id, key and n. */
function rowMaker(ctx: BenchContext, run: string): (i: number) => EventRow {
  // both kinds of bench event; validating every one would time the validator, not the sink
  const templates: PreparedEvent[] = [0, 1, 2, 3].map((i) => benchEvent(ctx.fixtures.catalog, run, i))
  const pipelines = [ctx.fixtures.pipeline.name]
  return (i) => {
    const { event, subject } = templates[i % templates.length] as PreparedEvent
    const e = { ...event, id: randomUUID(), idempotencykey: `bench.tick.v1:${run}|${i}`, data: { ...event.data, n: i } }
    return eventRow(e, { subject, seq: i + 1, emittedBy: '', pipelines })
  }
}

/** Writes `n` single-row items with at most `window` waiting, `RECORDER_PULL` per event-loop turn. */
function feed(write: (i: number) => Promise<WriteResult>, n: number, window: number, timeoutMs: number, onProgress: (settled: number) => void) {
  let issued = 0
  let written = 0
  let failed = 0
  let scheduled = false
  const done = Promise.withResolvers<void>()
  const onResult = (r: WriteResult) => {
    if (r.type === 'written') written++
    else failed++
    if (written + failed === n) done.resolve()
    else schedule()
  }
  const turn = () => {
    scheduled = false
    const limit = Math.min(n, issued + RECORDER_PULL, written + failed + window)
    for (; issued < limit; issued++) void write(issued).then(onResult)
    if (issued < n && issued - written - failed < window) schedule()
  }
  // like socket reads: the next batch of rows comes on a later turn, never in the same one
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(turn)
  }
  const ticker = setInterval(() => onProgress(written + failed), 200)
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
  turn()
  return Promise.race([done.promise, late]).then(() => {
    clearTimeout(timer)
    clearInterval(ticker)
    onProgress(written + failed)
    return { written, failed }
  })
}

/** "insert 98 ms p50 / 160 max per batch of 4096 rows, 12 ms of it encoding on the JS thread" */
function describeInserts(what: string, s: InsertStats): string {
  if (s.batches === 0) return `${what}: no inserts`
  return (
    `${what}: ${s.batches} batches of ${Math.round(s.rows / s.batches)} rows, ${s.insertMs.p50} ms p50 / ${s.insertMs.max} max each, ` +
    `encoding on the JS thread ${s.encodeMs.p50} ms p50 / ${s.encodeMs.max} max`
  )
}

async function measureInserts(ctx: BenchContext, shape: (typeof SHAPES)[number], database: string): Promise<ScenarioResult> {
  const n = ctx.sizes.events
  const bch: BenchClickHouse = await openBenchClickHouse(ctx, database)
  try {
    const writer = createBatchWriter<EventRow>(bch.ch, { table: 'omni_events' })
    const row = rowMaker(ctx, `${ctx.runId}-${database}`)
    const rowBytes = Buffer.byteLength(JSON.stringify(row(0)))
    const bar = ctx.progress(`${shape.id}: inserting`, n)
    const cpu = startCpuMeter(undefined)
    const loop = startLoopMeter()
    const started = performance.now()
    const r = await feed((i) => writer.write([row(i)]), n, shape.window, ctx.sizes.phaseTimeoutSeconds * 1000, (k) => bar.update(k))
    const seconds = (performance.now() - started) / 1000
    const stalls = loop.stop()
    const cpuShare = cpu.stop()
    bar.stop()
    await writer.close()
    const inserts = bch.inserts('omni_events')
    const stored = await bch.count('omni_events', true)
    const rate = r.written / seconds
    const ceiling = bestRow(ctx, 'consume-ceiling')
    const problems = [
      r.written + r.failed < n ? `STOPPED at the ${ctx.sizes.phaseTimeoutSeconds} s cap: ${r.written} of ${n} written` : '',
      r.failed > 0 ? `${r.failed} writes not written` : '',
      stored === r.written ? '' : `omni_events FINAL holds ${stored} rows, ${r.written} written`,
    ]
    return {
      id: shape.id,
      scenario: 'sink',
      title: shape.title,
      events: r.written,
      seconds: round(seconds, 3),
      rate: Math.round(rate),
      ...(ceiling ? { ratio: round(rate / ceiling.rate), ratioTo: 'consume' } : {}),
      notes: [
        `rows/s; ${shape.note}; ${rowBytes} B JSON rows; default maxRows ${WRITER_DEFAULTS.maxRows}, flushMs ${WRITER_DEFAULTS.flushMs}`,
        describeInserts('inserts', inserts),
        `event loop stalls p99 ${stalls.p99} ms, max ${stalls.max} ms`,
        `CPU bench ${cpuShare.bench} core (JS thread ${cpuShare.main})`,
        stored === r.written ? `FINAL count ${stored}: none lost or doubled` : '',
        ...problems,
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        ...(ceiling ? { ratioToRow: ceiling.id } : {}),
        unit: 'rows',
        window: shape.window,
        pullPerTurn: RECORDER_PULL,
        writer: WRITER_DEFAULTS,
        rowBytes,
        inserts,
        eventLoopStallsMs: stalls,
        cpu: cpuShare,
        storedFinal: stored,
      },
    }
  } finally {
    await bch.close()
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The outcomes writer, counting the rows handed to it: what omni_stage_outcomes must hold after. */
function counting<Row>(writer: BatchWriter<Row>): BatchWriter<Row> & { readonly handed: number } {
  let handed = 0
  return {
    get handed() {
      return handed
    },
    write(rows) {
      handed += rows.length
      return writer.write(rows)
    },
    pending: () => writer.pending(),
    stopWaiting: () => writer.stopWaiting(),
    unavailable: () => writer.unavailable(),
    close: () => writer.close(),
    closed: () => writer.closed(),
    [Symbol.asyncDispose]: () => writer.close(),
  }
}

/**
 * pipeline-e2e with the sink on: N events wait in the stream, then the worker (with its outcome
 * sink) and the recorder start and the clock runs until the worker has acked every event and
 * the recorder has recorded every event and output.
 */
async function measureE2e(ctx: BenchContext, database: string): Promise<ScenarioResult> {
  const capSeconds = 3 * ctx.sizes.e2eCapSeconds
  await freshPipelineTopology(ctx, 'deployed')
  const bch = await openBenchClickHouse(ctx, database)
  try {
    const filled = await prePublish(ctx, `${ctx.runId}-sink`, ctx.sizes.events, 'sink e2e: pre-publishing')
    const { expected } = filled
    const events = createBatchWriter<EventRow>(bch.ch, { table: 'omni_events' })
    const outcomes = counting(createBatchWriter<OutcomeRow>(bch.ch, { table: 'omni_stage_outcomes' }))
    const bar = ctx.progress('sink e2e: pipeline + recorder', expected)
    const cpu = startCpuMeter(ctx.serverPid)
    const loop = startLoopMeter()
    const started = performance.now()
    const deadline = started + capSeconds * 1000
    const w = await startBenchWorker(ctx, 'sink-e2e', { outcomes: createOutcomeSink(outcomes), events })
    const recorded = () => w.recorder?.stats().recorded ?? 0
    const ticker = setInterval(() => bar.update(Math.min(w.acked, recorded() / 2)), 200)
    let finishedAt: number
    let ackedAt: number | undefined
    let outputs = 0
    try {
      ackedAt = await w.ackedAtLeast(expected, deadline - performance.now())
      finishedAt = ackedAt ?? performance.now()
      // outputs are durable before their source is acked, so the recorder's target is known now;
      // it records them and the inputs through its own writer, and may finish after the last ack
      outputs = await storedOn(ctx, ctx.fixtures.outputSubject)
      if (ackedAt !== undefined && recorded() < expected + outputs) {
        while (recorded() < expected + outputs && performance.now() < deadline) await sleep(5)
        finishedAt = performance.now()
      }
    } finally {
      clearInterval(ticker)
      bar.update(w.acked)
      bar.stop()
    }
    const stalls = loop.stop()
    const cpuShare = cpu.stop()
    const acked = w.acked
    const rec = w.recorder?.stats() ?? { recorded: 0, deadLettered: 0, inFlight: 0 }
    const workerStats = w.worker.stats()
    const failures = w.failures
    await w.close()
    await Promise.all([events.close(), outcomes.close()])
    const stored = {
      events: await bch.count('omni_events', true),
      eventsInserted: await bch.count('omni_events', false),
      outcomes: await bch.count('omni_stage_outcomes', true),
      outcomesInserted: await bch.count('omni_stage_outcomes', false),
    }
    const inserts = { events: bch.inserts('omni_events'), outcomes: bch.inserts('omni_stage_outcomes') }

    const seconds = (finishedAt - started) / 1000
    const rate = acked / seconds
    const ceiling = bestRow(ctx, 'consume-ceiling')
    const plain = ctx.results.get('pipeline-e2e')
    const ratio = plain ? rate / plain.rate : undefined
    const expectedEvents = expected + outputs
    const complete = acked >= expected && rec.recorded >= expectedEvents
    const problems = [
      complete ? '' : `STOPPED at the ${capSeconds} s cap: ${acked} of ${expected} acked, ${rec.recorded} of ${expectedEvents} recorded`,
      failures > 0 ? `${failures} retried/dead-lettered` : '',
      rec.deadLettered > 0 ? `${rec.deadLettered} dead-lettered by the recorder` : '',
      stored.events === expectedEvents ? '' : `omni_events FINAL holds ${stored.events} rows, ${expectedEvents} expected`,
      stored.outcomes === outcomes.handed ? '' : `omni_stage_outcomes FINAL holds ${stored.outcomes} rows, ${outcomes.handed} written`,
    ]
    return {
      id: 'sink.e2e',
      scenario: 'sink',
      title: 'pipeline e2e + ClickHouse sink',
      events: acked,
      seconds: round(seconds, 3),
      rate: Math.round(rate),
      ...(ratio !== undefined ? { ratio: round(ratio), ratioTo: 'pipeline-e2e' } : {}),
      notes: [
        `settled = acked after its ${round(outcomes.handed / Math.max(1, acked), 1)} outcome rows are written, and recorded with its output into omni_events`,
        ratio !== undefined ? `target ≥ ${TARGET_RATIO}× the pipeline without the sink (pipeline-e2e, ${plain?.rate}/s): ${ratio >= TARGET_RATIO ? 'met' : 'MISSED'}` : 'pipeline-e2e did not run: no ratio',
        ceiling ? `${round(rate / ceiling.rate)}× consume ceiling` : '',
        ackedAt !== undefined && finishedAt > ackedAt + 1 ? `last ack at ${round((ackedAt - started) / 1000, 1)} s, last event recorded at ${round(seconds, 1)} s` : '',
        `CPU bench ${cpuShare.bench} (JS thread ${cpuShare.main})${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}`} core`,
        `event loop stalls p99 ${stalls.p99} ms, max ${stalls.max} ms`,
        describeInserts('omni_events', inserts.events),
        describeInserts('omni_stage_outcomes', inserts.outcomes),
        stored.events === expectedEvents ? `FINAL counts: omni_events ${stored.events} = ${expected} events + ${outputs} outputs, omni_stage_outcomes ${stored.outcomes}` : '',
        ...problems,
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        consumer: 'deployed',
        ...(plain ? { ratioToRow: plain.id, ratioToPipelineE2e: round(rate / plain.rate) } : {}),
        ...(ceiling ? { ratioToConsumeCeiling: round(rate / ceiling.rate) } : {}),
        targetRatio: TARGET_RATIO,
        expected,
        completed: complete,
        // which of the two finished last: the worker's acks or the recorder's rows
        workerDoneSeconds: ackedAt === undefined ? null : round((ackedAt - started) / 1000, 3),
        outputsStored: outputs,
        recorder: rec,
        outcomeRowsWritten: outcomes.handed,
        stored,
        inserts,
        writer: WRITER_DEFAULTS,
        eventLoopStallsMs: stalls,
        inputBytes: filled.bytes,
        prePublishSeconds: round(filled.seconds, 3),
        workerStats,
        failures,
        cpu: cpuShare,
      },
    }
  } finally {
    await bch.close()
    await cleanPipelineTopology(ctx)
  }
}

export const sink: Scenario = {
  id: 'sink',
  title: 'ClickHouse sink, embedded: inserts, and the pipeline end to end with it',
  async run(ctx) {
    const rows: ScenarioResult[] = []
    try {
      // a database per row: the engine keeps one data folder for the whole process
      for (const [i, shape] of SHAPES.entries()) rows.push(await measureInserts(ctx, shape, `bench_insert_${i}`))
      // the recorder's durable consumer is the fabric's own: on a shared server it would take
      // events from a running fabric's recorder, so the end-to-end row needs the bench's server
      if (ctx.managed) rows.push(await measureE2e(ctx, 'bench_e2e'))
      else ctx.log('  sink.e2e skipped: it needs the bench-managed server (the recorder would share a running fabric\'s consumer)')
    } finally {
      await removeEngineData(ctx)
    }
    return rows
  },
}
