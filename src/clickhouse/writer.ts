import { Lifecycle } from '../util/lifecycle.ts'
import type { RecordResult } from '../pipeline/outcome-sink.ts'
import { clickHouseMetrics } from '../observability/metrics.ts'
import type { ClickHouse, TableName } from './client.ts'
import { describeClickHouseError, isContentRejection } from './failures.ts'
import { INSERT_SETTINGS } from './rows.ts'

/**
 * What became of one item (the rows of one event) handed to the writer: written; `rejected`,
 * ClickHouse refused this item's content (the rest of its batch was written); or `aborted`, the
 * writer closed before ClickHouse took it, so the caller must not acknowledge. The same answers
 * the outcome sink port gives, since the outcome sink is this writer.
 */
export type WriteResult = RecordResult

/**
 * Insert at most this many rows at once; an idle writer waits this long for a burst to gather;
 * a failing insert is retried after `backoffMs.first`, doubling up to `backoffMs.max`.
 */
export const WRITER_DEFAULTS = { maxRows: 5000, flushMs: 10, backoffMs: { first: 250, max: 10_000 }, closeTimeoutMs: 5000 } as const

export interface BatchWriterOptions {
  readonly table: TableName
  /** flush when this many rows wait (default 5000) */
  readonly maxRows?: number
  /**
   * when no insert is running, start one this long after the first row arrived (default 10 ms,
   * so the rows of one burst go together); while one runs, the next batch grows behind it
   */
  readonly flushMs?: number
  /** waits between attempts while ClickHouse is unavailable (default 250 ms doubling to 10 s) */
  readonly backoffMs?: { readonly first: number; readonly max: number }
  /** how long close() keeps trying to write what is left before aborting it (default 5 s) */
  readonly closeTimeoutMs?: number
  readonly onRetry?: (info: { table: string; error: string; attempt: number; rows: number; delayMs: number }) => void
  readonly onRecovered?: (info: { table: string; attempts: number }) => void
}

export interface BatchWriter<Row> {
  /** Queues one item's rows; resolves once they are in ClickHouse (or rejected, or aborted). */
  write(rows: readonly Row[]): Promise<WriteResult>
  /** rows queued or being inserted */
  pending(): number
  /** true while inserts fail and are being retried */
  unavailable(): boolean
  /**
   * Stops waiting for ClickHouse `closeTimeoutMs` from now: whatever is not written by then (an
   * insert still retrying, or one that hangs) is answered `aborted`, so its caller leaves the
   * message unacknowledged and it is redelivered later. Rows keep being taken. The node calls it
   * when it starts to close, before it drains the consumers that wait on this writer.
   */
  stopWaiting(): void
  /**
   * Takes no more rows and writes what is queued, for at most `closeTimeoutMs` (counted from
   * stopWaiting() when that came first); what is still unwritten then is answered `aborted`.
   * The same promise on every call.
   */
  close(): Promise<void>
  /** Resolves once close() has finished; never rejects. */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

interface Item<Row> {
  readonly rows: readonly Row[]
  readonly done: (r: WriteResult) => void
}

/** What ends a wait early: the abort deadline moved closer. */
interface Wake {
  readonly promise: Promise<void>
  readonly wake: () => void
}
function wakeable(): Wake {
  const { promise, resolve } = Promise.withResolvers<void>()
  return { promise, wake: resolve }
}

/**
 * Batches rows by size and time and inserts them one batch at a time. A batch that fails for a
 * reason that may pass (unreachable, timeouts, a detached table) is retried with backoff until it
 * is written; one that ClickHouse refuses for its content is split in halves until the refused
 * items are found, so only those are reported rejected. Tables are ReplacingMergeTree keyed on
 * the event's identity, which is what makes a retried insert harmless.
 */
export function createBatchWriter<Row>(ch: ClickHouse, opts: BatchWriterOptions): BatchWriter<Row> {
  return new BatchWriterImpl<Row>(ch, opts)
}

class BatchWriterImpl<Row> extends Lifecycle implements BatchWriter<Row> {
  readonly #ch: ClickHouse
  readonly #opts: BatchWriterOptions
  readonly #table: string
  readonly #settings: { clickhouse_settings?: NonNullable<(typeof INSERT_SETTINGS)[TableName]> }
  #queue: Item<Row>[] = []
  /** index of the first waiting item: shift() turns quadratic on long queues */
  #head = 0
  #queuedRows = 0
  #inserting = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #failing = false
  #abortAt = Infinity
  /** resolved when #abortAt moves: a retry's sleep and a hanging insert stop waiting */
  #wake: Wake = wakeable()

  constructor(ch: ClickHouse, opts: BatchWriterOptions) {
    super()
    this.#ch = ch
    this.#opts = opts
    this.#table = ch.table(opts.table)
    const settings = INSERT_SETTINGS[opts.table]
    this.#settings = settings ? { clickhouse_settings: settings } : {}
  }

  write(rows: readonly Row[]): Promise<WriteResult> {
    if (this.closing) return Promise.resolve({ type: 'aborted', error: 'the ClickHouse writer is closed' })
    if (rows.length === 0) return Promise.resolve({ type: 'written' })
    const { promise, resolve } = Promise.withResolvers<WriteResult>()
    this.#queue.push({ rows, done: resolve })
    this.#queuedRows += rows.length
    // a running insert picks the queue up when it ends; only an idle writer needs a nudge
    if (this.#running) return promise
    if (this.#queuedRows >= (this.#opts.maxRows ?? WRITER_DEFAULTS.maxRows)) this.#kick()
    else this.#timer ??= setTimeout(() => this.#kick(), this.#opts.flushMs ?? WRITER_DEFAULTS.flushMs)
    return promise
  }

  pending(): number {
    return this.#queuedRows + this.#inserting
  }

  unavailable(): boolean {
    return this.#failing
  }

  stopWaiting(): void {
    const at = Date.now() + (this.#opts.closeTimeoutMs ?? WRITER_DEFAULTS.closeTimeoutMs)
    if (at >= this.#abortAt) return
    this.#abortAt = at
    this.#wake.wake()
    this.#wake = wakeable()
  }

  protected async release(): Promise<void> {
    this.stopWaiting()
    this.#kick()
    while (this.#running) await this.#running
  }

  #kick(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined
      if (this.#head < this.#queue.length) this.#kick()
    })
  }

  /** Inserts what is queued, batch after batch, until the queue is empty. */
  async #drain(): Promise<void> {
    const maxRows = this.#opts.maxRows ?? WRITER_DEFAULTS.maxRows
    while (this.#head < this.#queue.length) {
      const batch: Item<Row>[] = []
      let rows = 0
      while (this.#head < this.#queue.length && (batch.length === 0 || rows + (this.#queue[this.#head] as Item<Row>).rows.length <= maxRows)) {
        const item = this.#queue[this.#head++] as Item<Row>
        batch.push(item)
        rows += item.rows.length
      }
      // drop the taken items in one go (cheap compared to the insert that follows)
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
      this.#queuedRows -= rows
      this.#inserting = rows
      await this.#insertItems(batch)
      this.#inserting = 0
    }
  }

  /** Writes every item of the batch, splitting around content rejections. */
  async #insertItems(items: readonly Item<Row>[]): Promise<void> {
    const outcome = await this.#insertWithRetry(items)
    if (outcome.type !== 'rejected') {
      for (const item of items) item.done(outcome)
      return
    }
    if (items.length === 1) {
      ;(items[0] as Item<Row>).done(outcome)
      return
    }
    const half = Math.ceil(items.length / 2)
    await this.#insertItems(items.slice(0, half))
    await this.#insertItems(items.slice(half))
  }

  async #insertWithRetry(items: readonly Item<Row>[]): Promise<WriteResult> {
    const values = items.flatMap((i) => i.rows)
    const backoff = this.#opts.backoffMs ?? WRITER_DEFAULTS.backoffMs
    for (let attempt = 1; ; attempt++) {
      const labels = { table: this.#table }
      try {
        const stop = clickHouseMetrics.insertSeconds.startTimer(labels)
        // an insert that hangs past the abort deadline is given up: if it lands after all, the
        // redelivered event writes the same rows again, which the replacing key collapses
        if ((await this.#beforeDeadline(this.#ch.client.insert({ table: this.#table, values: values as Row[], format: 'JSONEachRow', ...this.#settings }))) === 'late') {
          return { type: 'aborted', error: 'ClickHouse did not answer before the writer stopped waiting' }
        }
        stop()
        clickHouseMetrics.rowsWritten.inc(labels, values.length)
        if (this.#failing) {
          clickHouseMetrics.unavailable.set(labels, 0)
          this.#failing = false
          this.#opts.onRecovered?.({ table: this.#table, attempts: attempt })
        }
        return { type: 'written' }
      } catch (err) {
        const error = describeClickHouseError(err)
        const rejected = isContentRejection(err)
        clickHouseMetrics.insertFailures.inc({ ...labels, kind: rejected ? 'rejected' : 'transient' })
        if (rejected) return { type: 'rejected', error }
        if (Date.now() >= this.#abortAt) return { type: 'aborted', error }
        this.#failing = true
        clickHouseMetrics.unavailable.set(labels, 1)
        const delayMs = Math.min(backoff.max, backoff.first * 2 ** Math.min(attempt - 1, 16))
        this.#opts.onRetry?.({ table: this.#table, error, attempt, rows: values.length, delayMs })
        await this.#sleep(delayMs)
      }
    }
  }

  /** Waits `ms`, or less when the abort deadline comes first or moves closer. */
  async #sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    // referenced on purpose: rows waiting for ClickHouse keep the process alive until close()
    const slept = new Promise<void>((r) => (timer = setTimeout(r, Math.min(ms, Math.max(0, this.#abortAt - Date.now())))))
    await Promise.race([slept, this.#wake.promise])
    clearTimeout(timer)
  }

  /** Settles with `work`, or 'late' once the abort deadline passes first. */
  async #beforeDeadline<T>(work: Promise<T>): Promise<T | 'late'> {
    if (this.#abortAt === Infinity) {
      // no deadline yet: wait for the work, unless one is set meanwhile
      const first = await Promise.race([work.then((v) => ({ v })), this.#wake.promise.then(() => undefined)])
      if (first) return first.v
    }
    work.catch(() => undefined)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), Math.max(0, this.#abortAt - Date.now()))))
    try {
      return await Promise.race([work, late])
    } finally {
      clearTimeout(timer)
    }
  }
}
