// Starts bench/ledger/platform-child.ts as a child process, so a scenario can SIGKILL or SIGTERM
// the platform and start another on the same NATS server and data folder.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { MeshConfig } from '../../src/mesh/config.ts'
import type { PluginHostOptions } from '../../src/node/plugin-host.ts'
import type { NatsCredentials } from '../../src/server/mod.ts'

const CHILD = fileURLToPath(new URL('./platform-child.ts', import.meta.url))

export interface PlatformChild {
  readonly pid: number
  /** resolves once the node consumes; rejects if the process exits first */
  readonly ready: Promise<void>
  /** the HTTP API's base URL once it listens (when started with an API token) */
  apiUrl(): string | undefined
  /** resolves with the exit code or signal name once the process is gone */
  readonly exited: Promise<number | string>
  /** sequences this process acknowledged on the consumer named by `reportAcks` */
  acked(): readonly number[]
  /** the highest resident set size sampled so far, in bytes */
  peakRss(): number
  stderr(): string
  kill(signal: NodeJS.Signals): void
  /** SIGTERM, then waits for the exit (SIGKILL after 20 s) */
  stop(): Promise<number | string>
}

export interface PlatformOptions {
  readonly natsUrl: string
  /** the platform's login, when the server asks for one (a mesh node's does) */
  readonly natsCredentials?: NatsCredentials
  /** this node's place in the mesh, on a server the harness runs with that mesh's topology */
  readonly mesh?: MeshConfig
  readonly manifests: string
  readonly data: string
  /** `<consumer>:<n>`: SIGKILL at the n-th ack of that consumer */
  readonly killAt?: string
  readonly chDownMs?: number
  readonly chSlowMs?: number
  /** without ClickHouse; with manifests without pipelines it only takes events in */
  readonly ingestOnly?: boolean
  readonly watch?: boolean
  /** 0: the node's default */
  readonly maxInFlight?: number
  /** the pipelines' ack wait (default 2 s); 0: the node's default */
  readonly ackWaitMs?: number
  /** signed plugins the pipeline may use */
  readonly plugins?: PluginHostOptions
  /** start the HTTP API with this ingest token */
  readonly apiToken?: string
  /** copies of every stream and bucket the platform creates (on a NATS cluster) */
  readonly replicas?: number
  /** a consumer (a pipeline's name) whose acks the process reports: see acked() */
  readonly reportAcks?: string
  /** the platform's log level (default error); its log goes to stderr(), the last 8 kB kept */
  readonly logLevel?: string
}

const alive = new Set<ChildProcess>()
// the harness killed by anything but SIGKILL takes its platform processes with it
process.on('exit', () => {
  for (const c of alive) c.kill('SIGKILL')
})

export function startPlatform(opts: PlatformOptions): PlatformChild {
  const env: Record<string, string> = {
    OMNI_LEDGER_NATS_URL: opts.natsUrl,
    OMNI_LEDGER_MANIFESTS: opts.manifests,
    OMNI_LEDGER_DATA: opts.data,
    ...(opts.natsCredentials ? { OMNI_LEDGER_NATS_CREDENTIALS: JSON.stringify(opts.natsCredentials) } : {}),
    ...(opts.mesh ? { OMNI_LEDGER_MESH: JSON.stringify(opts.mesh) } : {}),
    ...(opts.killAt ? { OMNI_LEDGER_KILL_AT: opts.killAt } : {}),
    ...(opts.chDownMs ? { OMNI_LEDGER_CH_DOWN_MS: String(opts.chDownMs) } : {}),
    ...(opts.chSlowMs ? { OMNI_LEDGER_CH_SLOW_MS: String(opts.chSlowMs) } : {}),
    ...(opts.ingestOnly ? { OMNI_LEDGER_INGEST_ONLY: '1' } : {}),
    ...(opts.watch ? { OMNI_LEDGER_WATCH: '1' } : {}),
    ...(opts.maxInFlight !== undefined ? { OMNI_LEDGER_MAX_IN_FLIGHT: String(opts.maxInFlight) } : {}),
    ...(opts.ackWaitMs !== undefined ? { OMNI_LEDGER_ACK_WAIT_MS: String(opts.ackWaitMs) } : {}),
    ...(opts.plugins ? { OMNI_LEDGER_PLUGINS: JSON.stringify(opts.plugins) } : {}),
    ...(opts.apiToken ? { OMNI_LEDGER_API_TOKEN: opts.apiToken } : {}),
    ...(opts.logLevel ? { OMNI_LEDGER_LOG_LEVEL: opts.logLevel } : {}),
    ...(opts.replicas !== undefined ? { OMNI_LEDGER_REPLICAS: String(opts.replicas) } : {}),
    ...(opts.reportAcks ? { OMNI_LEDGER_REPORT_ACKS: opts.reportAcks } : {}),
  }
  const child = spawn(process.execPath, ['--no-warnings', '--no-node-snapshot', CHILD], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const pid = child.pid
  if (pid === undefined) throw new Error('the platform process did not start')
  alive.add(child)
  let err = ''
  let partial = ''
  let peak = 0
  let apiUrl: string | undefined
  const acked: number[] = []
  const ready = Promise.withResolvers<void>()
  child.stdout?.on('data', (c: Buffer) => {
    const lines = (partial + c.toString('utf8')).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      if (line.startsWith('api ')) apiUrl = line.slice(4)
      else if (line.startsWith('acked ')) acked.push(Number(line.slice(line.lastIndexOf(' ') + 1)))
    }
    if (lines.includes('ready')) ready.resolve()
  })
  child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-8000)))
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100)
  sampler.unref()
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => {
      clearInterval(sampler)
      alive.delete(child)
      resolve(code ?? signal ?? 'unknown')
    }),
  )
  void exited.then((how) => ready.reject(new Error(`the platform process ${pid} exited (${how}) before it was ready: ${err.trim()}`)))
  ready.promise.catch(() => undefined)
  const running = () => child.exitCode === null && child.signalCode === null
  return {
    pid,
    ready: ready.promise,
    exited,
    peakRss: () => peak,
    acked: () => acked,
    apiUrl: () => apiUrl,
    stderr: () => err,
    kill: (signal) => void (running() && child.kill(signal)),
    stop: async () => {
      if (running()) child.kill('SIGTERM')
      const force = setTimeout(() => running() && child.kill('SIGKILL'), 20_000)
      const how = await exited
      clearTimeout(force)
      return how
    },
  }
}

/** VmRSS of a process in bytes (0 once it is gone). */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}
