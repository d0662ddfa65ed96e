// Garbage-collection pauses of this process while a measurement runs: the first suspect for a
// latency tail, since the Omni worker runs in the bench process.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { round } from './stats.ts'

export interface GcPauses {
  /** scavenges of the young generation */
  readonly minor: number
  /** mark-compact (full) collections */
  readonly major: number
  /** the longest pause, ms */
  readonly maxMs: number
  /** all pauses together, ms */
  readonly totalMs: number
}

const MAJOR = constants.NODE_PERFORMANCE_GC_MAJOR

/** Starts recording GC pauses; `stop()` returns what was seen meanwhile. */
export function startGcMeter(): { stop(): Promise<GcPauses> } {
  let minor = 0
  let major = 0
  let maxMs = 0
  let totalMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      if (e.detail?.kind === MAJOR) major++
      else minor++
      maxMs = Math.max(maxMs, e.duration)
      totalMs += e.duration
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return {
    async stop() {
      // entries are delivered asynchronously: let the last ones arrive
      await new Promise((r) => setImmediate(r))
      observer.disconnect()
      return { minor, major, maxMs: round(maxMs), totalMs: round(totalMs) }
    },
  }
}
