import { type ChildProcess, fork } from 'node:child_process'
import type { Readable } from 'node:stream'
import { omniError } from '../../errors/mod.ts'
import { isChildMessage, type LoadRequest, type Reply, type RunRequest, type UnloadRequest } from './protocol.ts'

/** How the isolate process ended. */
export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** the end of what it wrote to stderr, for the error messages */
  readonly stderr: string
}

/** A request that got no answer: the process exited, or the watchdog killed it. */
export interface Lost {
  readonly type: 'lost'
  readonly reason: 'exited' | 'watchdog'
  readonly message: string
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never
export type RequestBody = WithoutId<LoadRequest | RunRequest | UnloadRequest>

/** One incarnation of the isolate process, seen from the worker. */
export interface IsolateProcess {
  readonly pid: number
  /** sends a request; resolves with the reply or why none came, never rejects */
  request(body: RequestBody, watchdogMs: number): Promise<Reply | Lost>
  /** resolves when the process has exited; never rejects */
  readonly exited: Promise<ExitInfo>
  /** closes the channel (the process exits on its own), SIGKILL after `graceMs`; resolves on exit */
  stop(graceMs: number): Promise<ExitInfo>
  kill(): void
  /**
   * True once the process was killed, told to stop, or exited, before `exited` resolves (which
   * waits for the end of its stderr): a request sent now would only come back lost.
   */
  readonly ending: boolean
}

export interface StartOptions {
  /** the entry file (host.ts) */
  readonly entry: string
  readonly startTimeoutMs: number
}

// Only what no secret can hide in; never process.env (NATS URLs, credentials, NODE_OPTIONS).
const PASSED_ENV = ['TZ', 'LANG', 'LC_ALL'] as const
const STDERR_TAIL = 4096
const STDERR_WAIT_MS = 250

/** Forks the isolate process; resolves once it reports ready, rejects with OMNI_ERR_SANDBOX_UNAVAILABLE. */
export async function startIsolateProcess(opts: StartOptions): Promise<IsolateProcess> {
  const env: Record<string, string> = {}
  for (const name of PASSED_ENV) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  const child = fork(opts.entry, [], {
    // isolated-vm needs --no-node-snapshot on Node 20+; plugins cannot print, so warnings are noise
    execArgv: ['--no-node-snapshot', '--no-warnings'],
    serialization: 'advanced',
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const proc = new IsolateProcessImpl(child)
  try {
    await proc.ready(opts.startTimeoutMs)
    return proc
  } catch (err) {
    proc.kill()
    throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `the isolate process could not start: ${(err as Error).message}`, { cause: err })
  }
}

/** One line on how a process ended, with the end of its stderr. */
export function describeExit(info: ExitInfo): string {
  const how = info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`
  const tail = info.stderr.trim().split('\n').slice(-3).join(' | ')
  return tail ? `${how}: ${tail}` : how
}

interface Pending {
  readonly resolve: (r: Reply | Lost) => void
  readonly timer: NodeJS.Timeout
}

class IsolateProcessImpl implements IsolateProcess {
  readonly pid: number
  readonly exited: Promise<ExitInfo>
  readonly #child: ChildProcess
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  #stderr = ''
  #exit: ExitInfo | undefined
  // keeps the worker alive until the process reported ready
  #starting = true
  #stopping = false
  #ending = false
  readonly #ready = Promise.withResolvers<void>()

  constructor(child: ChildProcess) {
    this.#child = child
    this.pid = child.pid ?? -1
    const exited = Promise.withResolvers<ExitInfo>()
    this.exited = exited.promise
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL)
    })
    child.on('message', (msg: unknown) => this.#onMessage(msg))
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.#exit) return
      this.#exit = { code, signal, stderr: this.#stderr }
      const lost: Lost = { type: 'lost', reason: 'exited', message: `the isolate process exited (${describeExit(this.#exit)})` }
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer)
        p.resolve(lost)
      }
      this.#pending.clear()
      this.#ready.reject(new Error(`it exited during start-up (${describeExit(this.#exit)})`))
      exited.resolve(this.#exit)
    }
    // a V8 abort explains itself on stderr: read it to its end first, within a bound ('close'
    // would wait for it, but is never emitted after the worker closed the channel itself)
    const stderrDone = new Promise<void>((resolve) => (child.stderr ? child.stderr.once('close', resolve) : resolve()))
    child.on('exit', (code, signal) => {
      this.#ending = true
      const bound = setTimeout(() => finish(code, signal), STDERR_WAIT_MS)
      void stderrDone.then(() => {
        clearTimeout(bound)
        finish(code, signal)
      })
    })
    // a failed spawn emits 'error' and no 'exit'
    child.on('error', (err) => {
      this.#stderr += `\n${err.message}`
      if (child.pid === undefined) finish(null, null)
    })
    this.#refWhileBusy()
  }

  /** resolves when the process reports ready; rejects when it exits first or takes too long */
  async ready(timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => this.#ready.reject(new Error(`it did not report ready within ${timeoutMs} ms`)), timeoutMs)
    timer.unref()
    try {
      await this.#ready.promise
    } finally {
      clearTimeout(timer)
      this.#starting = false
      this.#refWhileBusy()
    }
  }

  request(body: RequestBody, watchdogMs: number): Promise<Reply | Lost> {
    if (this.#exit) return Promise.resolve({ type: 'lost', reason: 'exited', message: `the isolate process exited (${describeExit(this.#exit)})` })
    const id = ++this.#nextId
    const { promise, resolve } = Promise.withResolvers<Reply | Lost>()
    const timer = setTimeout(() => {
      this.#pending.delete(id)
      resolve({ type: 'lost', reason: 'watchdog', message: `the isolate process did not answer within ${watchdogMs} ms and was killed` })
      this.kill()
    }, watchdogMs)
    timer.unref()
    this.#pending.set(id, { resolve, timer })
    this.#refWhileBusy()
    this.#child.send({ ...body, id } as ChildRequest, undefined, undefined, () => {})
    return promise
  }

  get ending(): boolean {
    return this.#ending
  }

  async stop(graceMs: number): Promise<ExitInfo> {
    if (this.#exit) return this.#exit
    this.#stopping = true
    this.#ending = true
    this.#refWhileBusy()
    if (this.#child.connected) this.#child.disconnect()
    const timer = setTimeout(() => this.kill(), graceMs)
    timer.unref()
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }

  kill(): void {
    this.#ending = true
    if (!this.#exit) this.#child.kill('SIGKILL')
  }

  #onMessage(msg: unknown): void {
    // the process runs untrusted code: a message that breaks the protocol ends it
    if (!isChildMessage(msg)) return this.kill()
    if (msg.type === 'ready') return this.#ready.resolve()
    const pending = this.#pending.get(msg.id)
    if (!pending) return
    this.#pending.delete(msg.id)
    clearTimeout(pending.timer)
    this.#refWhileBusy()
    pending.resolve(msg)
  }

  /** An idle isolate process must not keep the worker alive, like an unref'd timer. */
  #refWhileBusy(): void {
    const stderr = this.#child.stderr as (Readable & { ref?: () => void; unref?: () => void }) | null
    if (this.#starting || this.#stopping || this.#pending.size > 0) {
      this.#child.ref()
      this.#child.channel?.ref()
      stderr?.ref?.()
    } else {
      this.#child.unref()
      this.#child.channel?.unref()
      stderr?.unref?.()
    }
  }
}

type ChildRequest = LoadRequest | RunRequest | UnloadRequest
