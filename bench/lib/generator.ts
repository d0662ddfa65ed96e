import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LatencySummary } from './stats.ts'

/** What the load generator process is asked to do. */
export interface GeneratorJob {
  readonly url: string
  /** the login, when the server asks for one (the mesh's servers do) */
  readonly credentials?: { readonly user: string; readonly password: string }
  /** where to subscribe for outputs, when not on `url` (the mesh: publish on a1, outputs on a2) */
  readonly latencyUrl?: string
  /** a folder of bench manifests whose catalog the events are built with (default bench/fixtures) */
  readonly manifests?: string
  /** lowers the events' visibility below the catalog's */
  readonly visibility?: 'local' | 'cluster' | 'public'
  /** publishes each event as it waits in a1's cluster outbox for the mesh's floor (bench/scenarios/mesh-bounds.ts): outbox subject, origin a1 */
  readonly asMeshOutbox?: boolean
  /** run tag that keeps these events' idempotency keys unique */
  readonly run: string
  /** events per second */
  readonly rate: number
  readonly durationMs: number
  /** latencies of events sent during the first `warmupMs` are not counted */
  readonly warmupMs: number
  /** subscribe here (core NATS) and measure publish → output latency */
  readonly latencySubject?: string
  /** how long to wait for outputs after the last publish */
  readonly drainMs: number
  /** the process exits by itself after this long */
  readonly timeoutMs: number
}

export type GeneratorReport =
  | {
      readonly type: 'done'
      /** events the schedule called for */
      readonly target: number
      readonly sent: number
      readonly acked: number
      readonly failed: number
      readonly publishSeconds: number
      readonly achievedRate: number
      /** most events the schedule was ever behind by (0–few: the generator kept up) */
      readonly maxBehind: number
      readonly firstError?: string
      readonly latency?: LatencySummary & { readonly received: number; readonly missing: number }
    }
  | { readonly type: 'error'; readonly message: string }

const CHILD = fileURLToPath(new URL('./generator-child.ts', import.meta.url))

/** Runs one job in a child process and resolves with its report; kills it if it overstays. */
export function runGenerator(job: GeneratorJob): Promise<GeneratorReport> {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise<GeneratorReport>((resolve) => {
    let report: GeneratorReport | undefined
    const timer = setTimeout(() => {
      report ??= { type: 'error', message: `the load generator did not finish within ${job.timeoutMs + 5000} ms` }
      child.kill('SIGKILL')
    }, job.timeoutMs + 5000)
    // the job goes out once the child listens: a message sent earlier could be lost
    child.on('message', (m: { type?: string }) => {
      if (m.type === 'ready') child.send(job)
      else report ??= m as GeneratorReport
    })
    child.once('error', (err) => (report ??= { type: 'error', message: `cannot run the load generator: ${err.message}` }))
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve(report ?? { type: 'error', message: `the load generator exited (${signal ?? `code ${code}`}) without a report` })
    })
  })
}
