// Reconciles a scenario's ledger against what the platform kept: the events stream (inputs and
// outputs), the dead-letter stream (bytes compared) and omni_events (FINAL, then OPTIMIZE).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { listDeadLetters } from '../../src/jetstream/dlq.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { sha256, type LedgerEntry } from './ledger.ts'

export const PIPELINE = 'ledger'
export const SOURCE = 'omni.evt.ledger.ledger-tick.v1'
export const OUTPUT = 'omni.evt.ledger.tick-done.v1'
const CH_CHILD = fileURLToPath(new URL('./clickhouse-child.ts', import.meta.url))

/** One line of the ledger table. */
export interface LedgerCounts {
  /** publishes attempted, re-sends included */
  readonly sent: number
  /** distinct events the stream acknowledged */
  readonly acked: number
  /** of those, acknowledged by a 2xx of the HTTP API (the rest by a PubAck) */
  readonly ackedHttp: number
  /** acknowledged events found in the stream */
  readonly stored: number
  /** omni_events rows of this run, FINAL and after OPTIMIZE … FINAL */
  readonly rowsFinal: number
  readonly rowsOptimized: number
  readonly outputsExpected: number
  readonly outputsFound: number
  /** copies beyond the first: outputs, rows, dead letters, and inputs beyond what was acked as new */
  readonly duplicated: number
  /** acknowledged events or expected outputs missing (from the stream and from ClickHouse alike) */
  readonly lost: number
  readonly deadLettered: number
  /** dead letters whose bytes equal what was sent */
  readonly deadLetteredIntact: number
  /** what was missing or doubled, by kind, for the report */
  readonly detail: Record<string, number>
  /** dead letters of events that were not poison, by `stage: error` */
  readonly unexpectedDeadLetters: Record<string, number>
  /** stage outcomes recorded in ClickHouse, `stage:status` → rows (the ledger's own stages left out) */
  readonly outcomes: Record<string, number>
  /** the same for events numbered at or past the scenario's mark (sent after its fault took effect) */
  readonly outcomesAfterMark: Record<string, number>
}

type Rows = { n: string; subject: string; rows: number }[]

export interface ReconcileInput {
  readonly run: string
  readonly sent: number
  readonly ledger: readonly LedgerEntry[]
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** the data folder of the platform, which must have stopped */
  readonly data: string
  /** the first event number sent after the scenario's fault took effect, if it marks one */
  readonly mark?: number
  /**
   * where the pipeline ran when that is another node (a mesh scenario): its streams hold the
   * received copies (on `received`, each with `origin`), the outputs and the dead letters, and
   * its ClickHouse records the inputs under `received`
   */
  readonly processing?: { readonly js: JetStreamClient; readonly jsm: JetStreamManager; readonly received: string; readonly origin: string; readonly rowOrigin: string }
}

export async function reconcile(i: ReconcileInput): Promise<LedgerCounts> {
  const acked = new Map<number, LedgerEntry>()
  const newAcks = new Map<number, number>()
  for (const e of i.ledger) {
    if (!acked.has(e.n)) acked.set(e.n, e)
    if (!e.duplicate) newAcks.set(e.n, (newAcks.get(e.n) ?? 0) + 1)
  }
  const expected = [...acked.values()].filter((e) => !e.poison).map((e) => e.n)
  const inputs = countBy(await readRun(i.js, i.jsm, SOURCE, i.run))
  const at = i.processing ?? { js: i.js, jsm: i.jsm }
  const outputs = countBy(await readRun(at.js, at.jsm, OUTPUT, i.run))
  const received = i.processing ? await readRun(at.js, at.jsm, i.processing.received, i.run) : []
  const letters = (await listDeadLetters(at.jsm, at.js)).flatMap((l) => {
    const body = parse(l.data)
    return body && body.run === i.run ? [{ n: body.n, stage: l.stage, error: l.error, bytes: sha256(l.data), data: sha256(Buffer.from(JSON.stringify(body.data))) }] : []
  })
  const { final, optimized, stages, origins } = await clickhouseRows(i.data, i.run, i.mark)
  const rowsIn = rowsOf(final, i.processing?.received ?? SOURCE)
  const rowsOut = rowsOf(final, OUTPUT)

  const detail: Record<string, number> = {}
  const add = (k: string, v: number) => v > 0 && (detail[k] = (detail[k] ?? 0) + v)
  for (const [n] of acked) add('lost.input', !inputs.has(n) && !rowsIn.has(n) ? 1 : 0)
  for (const n of expected) add('lost.output', !outputs.has(n) && !rowsOut.has(n) ? 1 : 0)
  for (const [n] of acked) add('lost.row', inputs.has(n) && !rowsIn.has(n) ? 1 : 0)
  for (const n of expected) add('lost.outputRow', outputs.has(n) && !rowsOut.has(n) ? 1 : 0)
  for (const [n, e] of acked) add('lost.deadLetter', e.poison && !letters.some((l) => l.n === n) ? 1 : 0)
  for (const [n, c] of inputs) add('duplicated.input', acked.has(n) ? c - Math.max(1, newAcks.get(n) ?? 1) : 0)
  for (const [, c] of outputs) add('duplicated.output', c - 1)
  if (i.processing) {
    // across the mesh: each acknowledged event admitted once on the receiving node, from its origin
    const copies = countBy(received)
    for (const [n] of acked) add('lost.received', copies.has(n) ? 0 : 1)
    for (const [, c] of copies) add('duplicated.received', c - 1)
    add('origin.wrong', received.filter((r) => r.origin !== i.processing?.origin).length)
    add('origin.wrongRow', origins.filter((o) => o.subject === i.processing?.received && (o.origin !== i.processing.rowOrigin || o.node !== i.processing.origin)).reduce((a, o) => a + o.rows, 0))
  }
  for (const r of final) add('duplicated.rowFinal', r.rows - 1)
  for (const r of optimized) add('duplicated.rowOptimized', r.rows - 1)
  for (const [, c] of countBy(letters)) add('duplicated.deadLetter', c - 1)
  // a dead letter of an event that was not poison is an output lost: say what failed it
  const unexpected: Record<string, number> = {}
  for (const l of letters) {
    if (acked.get(l.n)?.poison !== false) continue
    const why = `${l.stage}: ${l.error.slice(0, 80)}`
    unexpected[why] = (unexpected[why] ?? 0) + 1
  }
  const intact = letters.filter((l) => i.ledger.some((e) => e.n === l.n && e.sha256 === (e.via === 'http' ? l.data : l.bytes))).length
  add('deadLetter.altered', letters.length - intact)

  const sum = (prefix: string) => Object.entries(detail).reduce((a, [k, v]) => (k.startsWith(prefix) ? a + v : a), 0)
  return {
    sent: i.sent,
    acked: acked.size,
    ackedHttp: [...acked.values()].filter((e) => e.via === 'http').length,
    stored: [...acked.keys()].filter((n) => inputs.has(n)).length,
    rowsFinal: final.reduce((a, r) => a + r.rows, 0),
    rowsOptimized: optimized.reduce((a, r) => a + r.rows, 0),
    outputsExpected: expected.length,
    outputsFound: expected.filter((n) => outputs.has(n)).length,
    duplicated: sum('duplicated.'),
    // an altered dead letter lost the original bytes
    lost: sum('lost.') + (detail['deadLetter.altered'] ?? 0),
    deadLettered: letters.length,
    deadLetteredIntact: intact,
    detail,
    unexpectedDeadLetters: unexpected,
    outcomes: tally(stages.filter((s) => s.stage !== 'dedup' && s.stage !== 'check')),
    outcomesAfterMark: tally(stages.filter((s) => s.late === 1 && s.stage !== 'dedup' && s.stage !== 'check')),
  }
}

function tally(stages: Stages): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of stages) out[`${s.stage}:${s.status}`] = (out[`${s.stage}:${s.status}`] ?? 0) + s.rows
  return out
}

function countBy(items: readonly { n: number }[]): Map<number, number> {
  const m = new Map<number, number>()
  for (const { n } of items) m.set(n, (m.get(n) ?? 0) + 1)
  return m
}

function rowsOf(rows: Rows, subject: string): Set<number> {
  return new Set(rows.filter((r) => r.subject === subject).map((r) => Number(r.n)))
}

function parse(bytes: Uint8Array): { run: string; n: number; data: unknown; origin: string | undefined } | undefined {
  try {
    const e = JSON.parse(Buffer.from(bytes).toString('utf8')) as { data?: { run?: unknown; n?: unknown }; origin?: unknown }
    return typeof e.data?.run === 'string' && typeof e.data.n === 'number' ? { run: e.data.run, n: e.data.n, data: e.data, origin: typeof e.origin === 'string' ? e.origin : undefined } : undefined
  } catch {
    return undefined
  }
}

/** Every message of this run stored on `subject`, read without acknowledging anything. */
export async function readRun(js: JetStreamClient, jsm: JetStreamManager, subject: string, run: string): Promise<{ n: number; origin: string | undefined }[]> {
  const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: subject })
  const total = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0)
  const out: { n: number; origin: string | undefined }[] = []
  if (total === 0) return out
  const consumer = await js.consumers.get(EVENTS_STREAM, { filter_subjects: [subject] })
  let read = 0
  let empty = 0
  // bounded: each fetch returns messages or ends after `expires`; on a cluster a fetch may come
  // back empty while the consumer settles on its server, so a few empty ones in a row end it
  for (let round = 0; round < 10_000 && read < total && empty < 5; round++) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - read), expires: 2000 })
    let got = 0
    for await (const m of batch) {
      got++
      const e = parse(m.data)
      if (e?.run === run) out.push({ n: e.n, origin: e.origin })
      if (m.info.pending === 0) read = total
    }
    read += got
    empty = got === 0 ? empty + 1 : 0
  }
  await consumer.delete().catch(() => undefined)
  return out
}

type Stages = { stage: string; status: string; late: number; rows: number }[]
type Origins = { subject: string; origin: string; node: string; rows: number }[]

async function clickhouseRows(data: string, run: string, mark: number | undefined): Promise<{ final: Rows; optimized: Rows; stages: Stages; origins: Origins }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-warnings', '--no-node-snapshot', CH_CHILD, data, run, ...(mark === undefined ? [] : [String(mark)])], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 })
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { final: Rows; optimized: Rows; stages: Stages; origins: Origins }
}
