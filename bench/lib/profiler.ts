// `omni bench --profile`: a V8 CPU profile of the bench process around one measured phase. The
// Omni worker (pipeline-e2e) and the API (http-ingest) both run inside the bench process, so an
// in-process inspector session sees exactly the code under test; the load generators (autocannon,
// the pre-publisher) run before the phase or in a child and stay out of it.
import { mkdir, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './profile-summary.ts'

/**
 * Sampling interval in µs. Node's `--cpu-prof` uses 1000; a quick run lasts a fraction of a
 * second, so a finer grain is needed for the top functions to be more than a handful of samples.
 */
const SAMPLING_INTERVAL_US = 250

/** One running profile; `stop` writes it and returns its summary. */
export interface ProfileHandle {
  /** events (or answered requests) the phase handled, the denominator of µs per event */
  stop(events: number): Promise<ProfileSummary>
  /** ends the profile without writing it (a phase that failed); a no-op once stopped */
  discard(): Promise<void>
}

/** Profiles phases of one bench run into one folder, one `.cpuprofile` per row id. */
export interface BenchProfiler {
  readonly dir: string
  start(rowId: string): Promise<ProfileHandle>
  /** every summary so far, in the order the phases ran */
  summaries(): readonly ProfileSummary[]
}

export function createBenchProfiler(dir: string): BenchProfiler {
  const done: ProfileSummary[] = []
  let busy = false
  return {
    dir,
    summaries: () => done,
    async start(rowId) {
      // one session at a time: V8 has one sampling profiler per isolate
      if (busy) throw new Error(`profile of ${rowId}: another profile is still running`)
      busy = true
      const session = new Session()
      session.connect()
      try {
        await session.post('Profiler.enable')
        await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US })
        await session.post('Profiler.start')
      } catch (err) {
        session.disconnect()
        busy = false
        throw err
      }
      const startedAt = performance.now()
      let open = true
      const end = () => {
        open = false
        session.disconnect()
        busy = false
      }
      return {
        async discard() {
          if (!open) return
          try {
            await session.post('Profiler.stop')
          } finally {
            end()
          }
        },
        async stop(events) {
          if (!open) throw new Error(`profile of ${rowId}: already stopped`)
          try {
            const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile }
            const seconds = (performance.now() - startedAt) / 1000
            await mkdir(dir, { recursive: true })
            const file = join(dir, `${rowId}.cpuprofile`)
            await writeFile(file, JSON.stringify(profile))
            const summary = summarizeProfile(profile, { rowId, events, seconds, file })
            done.push(summary)
            await writeFile(join(dir, 'summary.json'), `${JSON.stringify(done, null, 2)}\n`)
            return summary
          } finally {
            end()
          }
        },
      }
    },
  }
}
