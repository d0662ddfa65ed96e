import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { connect } from '@nats-io/transport-node'
import type { NatsCredentials } from './credentials.ts'
import { omniError } from '../errors/mod.ts'
import type { NatsBinary } from './binary.ts'
import type { ResolvedServerOptions } from './options.ts'
import { clientUrl, renderConfig } from './options.ts'
import { assertPortFree, portInUseError, portInUseFromLog } from './ports.ts'

const TAIL_LINES = 30

/** Children still running; on exit (also a crash or process.exit) they get SIGTERM so none outlives its owner. */
const live = new Set<ChildProcess>()
let exitHook = false
function track(child: ChildProcess): void {
  live.add(child)
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => {
      for (const c of live) c.kill('SIGTERM')
    })
  }
}

/** One run of nats-server: the child, its port once ready, and how it ended. */
export interface ServerProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly port: number
  /** the loopback monitoring port (/varz, /leafz), when the config asks for one */
  readonly monitorPort: number | undefined
  /** Resolves once the process has exited and its output is closed; never rejects. */
  readonly exited: Promise<void>
  readonly hasExited: boolean
  /** SIGTERM, then SIGKILL after `timeoutMs`; the same promise on every call. */
  stop(timeoutMs: number): Promise<void>
  /** The last lines the server logged (its output, then its log file's tail): what it said about a refused login, say. */
  logLines(): Promise<string[]>
}

/** Keeps the last lines of the server's output for error reports. */
class LineTail {
  #lines: string[] = []
  #partial = ''
  push(chunk: Buffer): void {
    const parts = (this.#partial + chunk.toString('utf8')).split('\n')
    this.#partial = parts.pop() ?? ''
    this.#lines.push(...parts)
    if (this.#lines.length > TAIL_LINES) this.#lines.splice(0, this.#lines.length - TAIL_LINES)
  }
  lines(): string[] {
    return this.#partial === '' ? [...this.#lines] : [...this.#lines, this.#partial]
  }
}

async function fileTail(path: string): Promise<string[]> {
  try {
    const fh = await open(path, 'r')
    try {
      const { size } = await fh.stat()
      const len = Math.min(size, 64 * 1024)
      const buf = Buffer.alloc(len)
      await fh.read(buf, 0, len, size - len)
      return buf.toString('utf8').split('\n').filter((l) => l !== '').slice(-TAIL_LINES)
    } finally {
      await fh.close()
    }
  } catch {
    return []
  }
}

function portsFile(storeDir: string, pid: number): string {
  return join(storeDir, `nats-server_${pid}.ports`)
}

/** The client (and monitoring) ports from the ports file the server writes once it listens, or undefined. */
async function readReadyPorts(storeDir: string, pid: number): Promise<{ client: number; monitor: number | undefined } | undefined> {
  let text: string
  try {
    text = await readFile(portsFile(storeDir, pid), 'utf8')
  } catch {
    return undefined
  }
  try {
    const ports = JSON.parse(text) as { nats?: string[]; monitoring?: string[] }
    const first = ports.nats?.[0]
    const monitor = ports.monitoring?.[0]
    return first === undefined ? undefined : { client: Number(new URL(first).port), monitor: monitor === undefined ? undefined : Number(new URL(monitor).port) }
  } catch {
    return undefined // written but not complete yet
  }
}

/** True once a NATS client completes the handshake at host:port. */
async function probe(url: string, auth: NatsCredentials | undefined): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 1000, name: 'omni-ready-probe', ...(auth ? { user: auth.user, pass: auth.password } : {}) })
    await nc.close()
    return true
  } catch {
    return false
  }
}

/** Writes the config, spawns nats-server and resolves once clients can connect. */
export async function launch(binary: NatsBinary, o: ResolvedServerOptions, port: number): Promise<ServerProcess> {
  if (port !== 0) await assertPortFree(o.host, port)
  // a taken leaf port would only show in the server's log; say it plainly instead
  if (o.topology?.leafListen) await assertPortFree(o.topology.leafListen.host, o.topology.leafListen.port)
  await mkdir(o.storeDir, { recursive: true })
  const confPath = join(o.storeDir, 'nats-server.conf')
  // mode 0600: the config holds the platform's password and, on a mesh, every leaf's
  await writeFile(confPath, renderConfig(o, port), { mode: 0o600 })
  await chmod(confPath, 0o600) // a file from an earlier version keeps its mode otherwise

  const child = spawn(binary.path, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
  const tail = new LineTail()
  child.stdout?.on('data', (c: Buffer) => tail.push(c))
  child.stderr?.on('data', (c: Buffer) => tail.push(c))
  let hasExited = false
  let exitReason = ''
  const exited = new Promise<void>((resolve) => {
    const done = (reason: string) => {
      if (hasExited) return
      hasExited = true
      exitReason = reason
      live.delete(child)
      if (child.pid !== undefined) rm(portsFile(o.storeDir, child.pid), { force: true }).catch(() => {})
      resolve()
    }
    child.once('error', (err) => done(`could not be started: ${err.message}`))
    child.once('close', (code, signal) => done(signal ? `was killed by ${signal}` : `exited with code ${code}`))
  })
  const logLines = async () => [...tail.lines(), ...(o.logFile ? await fileTail(o.logFile) : [])]

  let stopping: Promise<void> | undefined
  const stop = (timeoutMs: number): Promise<void> => {
    stopping ??= (async () => {
      if (hasExited) return
      child.kill('SIGTERM')
      const force = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(force)
    })()
    return stopping
  }

  const shown = port === 0 ? 'a free port' : `port ${port}`
  const deadline = performance.now() + o.readyTimeoutMs
  for (;;) {
    if (hasExited) {
      const lines = await logLines()
      const log = lines.length > 0 ? `; last log lines:\n${lines.join('\n')}` : ''
      const cause = new Error(`nats-server ${exitReason}${log}`)
      const taken = portInUseFromLog(lines)
      if (taken !== undefined) throw portInUseError(o.host, port === 0 ? taken : port, cause)
      throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `nats-server (${binary.path}) ${exitReason} while starting on ${shown}${log}`, { cause })
    }
    if (performance.now() > deadline) {
      child.kill('SIGKILL')
      await exited
      const lines = await logLines()
      throw omniError(
        'OMNI_ERR_NATS_UNAVAILABLE',
        `nats-server (${binary.path}) did not accept connections on ${shown} within ${o.readyTimeoutMs} ms; last log lines:\n${lines.join('\n')}`,
      )
    }
    const ready = child.pid === undefined ? undefined : await readReadyPorts(o.storeDir, child.pid)
    if (ready !== undefined && (await probe(clientUrl(o.host, ready.client), o.auth))) {
      return {
        child,
        pid: child.pid as number,
        port: ready.client,
        monitorPort: ready.monitor,
        exited,
        get hasExited() {
          return hasExited
        },
        stop,
        logLines,
      }
    }
    await Promise.race([delay(20), exited])
  }
}
