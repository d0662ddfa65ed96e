// The ledger: one JSON line per acknowledged ingest (a PubAck), written as the ack arrives, so
// the file is the record of what the platform promised to keep.
import { createHash } from 'node:crypto'
import { appendFileSync } from 'node:fs'

/** One acknowledged event. */
export interface LedgerEntry {
  readonly scenario: number
  readonly run: string
  /** the event's number in its run: its identity across the stream, outputs and ClickHouse */
  readonly n: number
  readonly seq: number
  /** the stream answered "already stored" (a repeat inside the duplicate window) */
  readonly duplicate: boolean
  /** how the ingest was acknowledged: a PubAck, or a 2xx answer of POST /v1/events */
  readonly via: 'puback' | 'http'
  /**
   * sha256 of what a dead letter must hold: the exact bytes published (puback), or the event's
   * data as JSON (http, where the API completes the envelope itself)
   */
  readonly sha256: string
  readonly poison: boolean
}

export class Ledger {
  readonly #file: string | undefined
  readonly entries: LedgerEntry[] = []
  constructor(file: string | undefined) {
    this.#file = file
  }
  record(entry: LedgerEntry): void {
    this.entries.push(entry)
    // synchronous on purpose: an ack is in the file before the next line of the harness runs
    if (this.#file) appendFileSync(this.#file, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`)
  }
  of(run: string): LedgerEntry[] {
    return this.entries.filter((e) => e.run === run)
  }
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
