// `omni up` as an operator runs it: the real CLI in a child process, with its own nats-server, timed
// from spawn to the first 200 from GET /readyz, then stopped as an operator stops it (SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from './mesh-servers.ts'

const OMNI = fileURLToPath(new URL('../../cmd/omni.ts', import.meta.url))
const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url))
/** the flags `make up` and ./omni start the CLI with (the Makefile's NODE_FLAGS) */
const NODE_FLAGS = ['--no-warnings=ExperimentalWarning', '--stack-trace-limit=20']
const POLL_MS = 10
/** one /readyz request may not hang the poll: the API answers in ms once it listens */
const REQUEST_TIMEOUT_MS = 1000
/** a clean stop drains the workers and the server; past this the child is killed */
const STOP_BOUND_MS = 15_000
/** what is kept of the child's output for an error message */
const OUTPUT_TAIL = 8192

export interface UpTiming {
  /** spawn → the first 200 from GET /readyz */
  readonly readyMs: number
  /** spawn → "Omni Fabric is running" printed (the API listens from just before it) */
  readonly bannerMs: number | undefined
  /** SIGTERM → the process exited */
  readonly stopMs: number
  readonly exitCode: number | null
  /** it did not stop within the bound and was killed (its nats-server too) */
  readonly killed: boolean
}

/** `omni up` exited or never got ready; `output` is the tail of what it printed. */
export class UpFailed extends Error {
  readonly output: string
  constructor(message: string, output: string) {
    super(`${message}\n${output}`)
    this.output = output
  }
}

/**
 * An environment without the OMNI_* settings a shell may carry (a ClickHouse URL, a tokens file,
 * a log level), so the child runs on its defaults and flags alone; the nats-server binary's
 * location stays.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OMNI_') || k === 'OMNI_NATS_SERVER') env[k] = v
  return env
}

/** Starts `omni up` on free ports in `dataDir`, waits until /readyz answers 200, stops it. */
export async function timeOmniUp(opts: { readonly dataDir: string; readonly clickhouse: boolean; readonly timeoutMs: number }): Promise<UpTiming> {
  const natsPort = await freePort()
  const apiPort = await freePort()
  const args = [...NODE_FLAGS, OMNI, 'up', '--data', opts.dataDir, '--manifests', MANIFESTS, '--port', String(natsPort), '--api-port', String(apiPort)]
  if (!opts.clickhouse) args.push('--no-clickhouse')
  const started = performance.now()
  const child = spawn(process.execPath, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let bannerMs: number | undefined
  const take = (d: Buffer) => {
    output = (output + d.toString()).slice(-OUTPUT_TAIL)
    if (bannerMs === undefined && output.includes('Omni Fabric is running')) bannerMs = performance.now() - started
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let readyMs: number
  try {
    readyMs = await pollReady(`http://127.0.0.1:${apiPort}/readyz`, child, started, opts.timeoutMs)
  } catch (err) {
    await stop(child, exited, () => output)
    throw new UpFailed(err instanceof Error ? err.message : String(err), output)
  }
  const stopped = await stop(child, exited, () => output)
  return { readyMs, bannerMs, ...stopped }
}

/** Polls GET /readyz until a 200 (ms since `started`); throws when the child exits or time runs out. */
async function pollReady(url: string, child: ChildProcess, started: number, timeoutMs: number): Promise<number> {
  const deadline = started + timeoutMs
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`omni up exited (${child.exitCode ?? child.signalCode}) before /readyz answered 200`)
    const status = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).then(
      async (r) => {
        await r.body?.cancel()
        return r.status
      },
      () => 0, // not listening yet
    )
    if (status === 200) return performance.now() - started
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
  throw new Error(`omni up: /readyz did not answer 200 within ${timeoutMs} ms`)
}

/**
 * SIGTERM by pid, then SIGKILL after the bound; a killed `omni up` cannot stop its nats-server,
 * so that one (its pid is in the banner) is killed too.
 */
async function stop(child: ChildProcess, exited: Promise<number | null>, output: () => string): Promise<Pick<UpTiming, 'stopMs' | 'exitCode' | 'killed'>> {
  const from = performance.now()
  if (child.exitCode !== null || child.signalCode !== null) return { stopMs: 0, exitCode: child.exitCode, killed: false }
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const bounded = await Promise.race([exited.then((code) => ({ code })), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), STOP_BOUND_MS)))])
  clearTimeout(timer)
  if (bounded) return { stopMs: performance.now() - from, exitCode: bounded.code, killed: false }
  child.kill('SIGKILL')
  const code = await exited
  const natsPid = /local nats-server [^,]+, pid (\d+)/.exec(output())?.[1]
  if (natsPid) killQuietly(Number(natsPid))
  return { stopMs: performance.now() - from, exitCode: code, killed: true }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
