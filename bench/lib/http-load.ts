import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { HttpBodyKind } from './http-bodies.ts'

/** What the HTTP load generator process is asked to do: a warm-up run, then the measured one. */
export interface HttpLoadJob {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: HttpBodyKind
  /** keeps ids and idempotency keys of this row apart from every other run's */
  readonly run: string
  /** the webhook instance named in Evolution bodies */
  readonly instance: string
  readonly connections: number
  readonly warmupMs: number
  readonly durationMs: number
  /** the process exits by itself after this long */
  readonly timeoutMs: number
}

/** One autocannon run, reduced to what the report needs. */
export interface HttpLoadRun {
  readonly seconds: number
  readonly sent: number
  readonly ok2xx: number
  readonly non2xx: number
  readonly statusCodes: Readonly<Record<string, number>>
  readonly errors: number
  readonly timeouts: number
  readonly resets: number
  /** latency percentiles in ms, as autocannon measures them (per response, from the first byte written) */
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number }
  readonly bodyBytes: number
  /** the generator's own CPU use meanwhile, in cores: what it took from the server on this machine */
  readonly generatorCpu: number
}

export type HttpLoadReport =
  | { readonly type: 'done'; readonly warmup: HttpLoadRun; readonly measured: HttpLoadRun; readonly firstBadResponse?: string }
  | { readonly type: 'error'; readonly message: string }

const CHILD = fileURLToPath(new URL('./http-load-child.ts', import.meta.url))

/**
 * Runs autocannon in a child process, so the server under test keeps its cores to itself as far
 * as two cores allow; resolves with its report, killing it if it overstays.
 */
export function runHttpLoad(job: HttpLoadJob): Promise<HttpLoadReport> {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise<HttpLoadReport>((resolve) => {
    let report: HttpLoadReport | undefined
    const timer = setTimeout(() => {
      report ??= { type: 'error', message: `the HTTP load generator did not finish within ${job.timeoutMs + 5000} ms` }
      child.kill('SIGKILL')
    }, job.timeoutMs + 5000)
    // the job goes out once the child listens: a message sent earlier could be lost
    child.on('message', (m: { type?: string }) => {
      if (m.type === 'ready') child.send(job)
      else report ??= m as HttpLoadReport
    })
    child.once('error', (err) => (report ??= { type: 'error', message: `cannot run the HTTP load generator: ${err.message}` }))
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve(report ?? { type: 'error', message: `the HTTP load generator exited (${signal ?? `code ${code}`}) without a report` })
    })
  })
}
