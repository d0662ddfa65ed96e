// The HTTP load generator's process: autocannon against one URL, a warm-up run and then the
// measured one, every request with a body of its own (unique id and idempotency key).
import autocannon from 'autocannon'
import { bodyFor } from './http-bodies.ts'
import type { HttpLoadJob, HttpLoadReport, HttpLoadRun } from './http-load.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function once(job: HttpLoadJob, durationMs: number, body: (n: number) => string, next: { n: number }, bad: { first?: string }): Promise<HttpLoadRun> {
  const cpu0 = process.cpuUsage()
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    duration: durationMs / 1000,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...job.headers },
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: body(next.n++) }),
        onResponse: (status, text) => {
          if ((status < 200 || status > 299) && bad.first === undefined) bad.first = `${status} ${text.slice(0, 300)}`
        },
      },
    ],
  })
  const statusCodes: Record<string, number> = {}
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0
  const l = result.latency
  const cpu = process.cpuUsage(cpu0)
  return {
    seconds: result.duration,
    sent: result.requests.sent,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    resets: result.resets,
    latencyMs: { p50: l.p50, p90: l.p90, p99: l.p99, max: l.max, mean: l.mean },
    bodyBytes: Buffer.byteLength(body(0)),
    generatorCpu: Math.round(((cpu.user + cpu.system) / 1e6 / result.duration) * 100) / 100,
  }
}

async function run(job: HttpLoadJob): Promise<HttpLoadReport> {
  const body = bodyFor(job.body, job.run, job.instance)
  const next = { n: 0 }
  const bad: { first?: string } = {}
  const warmup = await once(job, job.warmupMs, body, next, bad)
  // let the server finish what the warm-up left in flight before the clock starts
  await sleep(200)
  const measured = await once(job, job.durationMs, body, next, bad)
  return { type: 'done', warmup, measured, ...(bad.first !== undefined ? { firstBadResponse: bad.first } : {}) }
}

process.once('message', (job: HttpLoadJob) => {
  setTimeout(() => process.exit(2), job.timeoutMs).unref()
  run(job).then(
    (report) => process.send?.(report, () => process.disconnect()),
    (err: unknown) => process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies HttpLoadReport, () => process.disconnect()),
  )
})
process.send?.({ type: 'ready' })
