import { fileURLToPath } from 'node:url'
import { omniError } from '../../errors/mod.ts'
import { BatchFailure } from '../isolate-failures.ts'
import type { PluginCode, PluginInput, PluginInstance, PluginOutput, SandboxRuntime } from '../types.ts'
import { createIsolateInstance, decodeOutputs } from './instance.ts'
import { checkIsolateLimits, type IsolateRuntimeConfig, type IsolateRuntimeOptions, resolveIsolateOptions, watchdogMs } from './options.ts'
import { type IsolateProcess, type Lost, startIsolateProcess } from './process.ts'
import type { Reply } from './protocol.ts'

export type { IsolateRuntimeOptions } from './options.ts'

/** The only file the worker names in the isolate process; it is never imported here. */
const HOST_ENTRY = fileURLToPath(new URL('./host.ts', import.meta.url))

/**
 * idle → starting → running; a crash: running → restarting (backoff) → starting → running;
 * close(): any → closing → closed. `idle` also after a crash when no plugin is loaded.
 */
export type SupervisorState = 'idle' | 'starting' | 'running' | 'restarting' | 'closing' | 'closed'

/** The isolate sandbox: plugins in isolated-vm isolates, inside one supervised child process. */
export interface IsolateRuntime extends SandboxRuntime {
  /** the isolate process's pid; undefined when none runs (before the first load, while restarting, once closed) */
  pid(): number | undefined
  state(): SupervisorState
}

/**
 * Creates the isolate runtime. Nothing starts until the first `load()`; then one child process
 * hosts an isolate per plugin. The worker never loads isolated-vm itself.
 */
export function createIsolateRuntime(opts: IsolateRuntimeOptions = {}): IsolateRuntime {
  return new IsolateRuntimeImpl(resolveIsolateOptions(opts))
}

interface PluginRecord {
  /** unique per load: one plugin id may be loaded more than once */
  readonly key: string
  /** kept to load the plugin again into a restarted process */
  readonly code: PluginCode
}

/** One life of the isolate process, and what was loaded into it. */
interface Incarnation {
  readonly proc: IsolateProcess
  readonly startedAt: number
  readonly loads: Map<string, Promise<Reply | Lost>>
}

// a process that lived this long crashed on its own, not in a loop: the backoff starts over
const STABLE_MS = 10_000

class IsolateRuntimeImpl implements IsolateRuntime {
  readonly runtime = 'isolate' as const
  readonly #config: IsolateRuntimeConfig
  #state: SupervisorState = 'idle'
  #current: Incarnation | undefined
  #starting: Promise<Incarnation> | undefined
  /** crashes and failed starts in a row */
  #failures = 0
  #backoff: { readonly timer: NodeJS.Timeout; readonly wake: () => void } | undefined
  readonly #records = new Map<string, PluginRecord>()
  readonly #instances = new Set<PluginInstance>()
  #seq = 0
  #closing: Promise<void> | undefined
  readonly #done = Promise.withResolvers<void>()

  constructor(config: IsolateRuntimeConfig) {
    this.#config = config
  }

  pid(): number | undefined {
    return this.#current?.proc.pid
  }

  state(): SupervisorState {
    return this.#state
  }

  async load(code: PluginCode): Promise<PluginInstance> {
    if (this.#closing) throw closedError()
    checkIsolateLimits(code.id, code.limits)
    const record: PluginRecord = { key: `${code.id}#${++this.#seq}`, code }
    const loaded = await this.#loadInto(await this.#acquire(), record)
    // close() came meanwhile: the process is going away, whatever the load's outcome
    if (this.#closing) throw closedError()
    if (loaded.type !== 'ok') {
      const permanent = loaded.type === 'fail' && loaded.kind !== 'crashed'
      throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${code.id} failed to load: ${loaded.message}`, { permanent })
    }
    this.#records.set(record.key, record)
    const instance = createIsolateInstance(
      code.id,
      (batch, started) => this.#call(record, batch, started),
      () => this.#unload(record, instance),
    )
    this.#instances.add(instance)
    return instance
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  closed(): Promise<void> {
    return this.#done.promise
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * One batch across the boundary; a whole-call failure rejects with a BatchFailure. `started`
   * marks the request going out: a restart of the process (backoff, start, reload) before it is
   * no work of the events in the call, and must not count against their stage's time limit.
   */
  async #call(record: PluginRecord, inputs: readonly PluginInput[], started: () => void): Promise<PluginOutput[]> {
    let inc: Incarnation
    try {
      inc = await this.#acquire()
      // A process being killed (the watchdog, a crash another call caused) is still the current
      // one until its exit is handled: a call sent to it would fail for no fault of its events,
      // and a call of one event would be its final failure. Wait for its successor instead.
      while (inc.proc.ending && !this.#closing) {
        await inc.proc.exited
        inc = await this.#acquire()
      }
    } catch (err) {
      if (this.#closing) throw err
      throw new BatchFailure('unavailable', (err as Error).message)
    }
    const loaded = await this.#loadInto(inc, record)
    if (loaded.type === 'lost') throw lostFailure(loaded)
    if (loaded.type === 'fail') throw new BatchFailure(loaded.kind, `the plugin could not be loaded again into the restarted isolate process: ${loaded.message}`)
    started()
    const reply = await inc.proc.request({ type: 'run', key: record.key, input: JSON.stringify(inputs) }, watchdogMs(record.code.limits, this.#config))
    if (reply.type === 'lost') throw lostFailure(reply)
    if (reply.type === 'fail') throw new BatchFailure(reply.kind, reply.message)
    this.#failures = 0
    return decodeOutputs(reply.output, inputs.length)
  }

  /** Loads a plugin into a process once; a failed load is tried again by the next call. */
  #loadInto(inc: Incarnation, record: PluginRecord): Promise<Reply | Lost> {
    const known = inc.loads.get(record.key)
    if (known) return known
    const { code } = record
    const load = inc.proc.request(
      { type: 'load', key: record.key, filename: `plugin:${code.id}/${code.main}`, source: code.source, memoryMb: code.limits.memoryMb, timeoutMs: code.limits.timeoutMs },
      watchdogMs(code.limits, this.#config),
    )
    inc.loads.set(record.key, load)
    void load.then((r) => {
      if (r.type !== 'ok' && inc.loads.get(record.key) === load) inc.loads.delete(record.key)
    })
    return load
  }

  async #unload(record: PluginRecord, instance: PluginInstance): Promise<void> {
    this.#records.delete(record.key)
    this.#instances.delete(instance)
    const inc = this.#current
    if (!inc?.loads.delete(record.key)) return
    await inc.proc.request({ type: 'unload', key: record.key }, this.#config.watchdogGraceMs)
  }

  /** The running process, started or restarted as needed. */
  #acquire(): Promise<Incarnation> {
    // while closing too: calls accepted before close() drain through the running process
    if (this.#current) return Promise.resolve(this.#current)
    if (this.#closing) return Promise.reject(closedError())
    // somebody waits for this restart now: its timer must keep the worker alive
    this.#backoff?.timer.ref()
    return this.#starting ?? this.#spawn(0)
  }

  #spawn(delayMs: number): Promise<Incarnation> {
    this.#state = delayMs > 0 ? 'restarting' : 'starting'
    const starting = (async () => {
      if (delayMs > 0) await this.#sleep(delayMs)
      if (this.#closing) throw closedError()
      this.#state = 'starting'
      const proc = await startIsolateProcess({ entry: HOST_ENTRY, startTimeoutMs: this.#config.startTimeoutMs })
      if (this.#closing) {
        await proc.stop(this.#config.closeTimeoutMs)
        throw closedError()
      }
      const inc: Incarnation = { proc, startedAt: Date.now(), loads: new Map() }
      this.#current = inc
      this.#state = 'running'
      void proc.exited.then(() => this.#onExit(inc))
      // every plugin still loaded comes back from the code kept, not from its files
      for (const record of this.#records.values()) void this.#loadInto(inc, record)
      return inc
    })()
    this.#starting = starting
    starting.then(
      () => {
        if (this.#starting === starting) this.#starting = undefined
      },
      () => {
        if (this.#starting !== starting) return
        this.#starting = undefined
        if (this.#closing) return
        this.#failures++
        if (this.#records.size > 0) void this.#spawn(this.#delay())
        else this.#state = 'idle'
      },
    )
    return starting
  }

  #onExit(inc: Incarnation): void {
    if (this.#current !== inc) return
    this.#current = undefined
    if (this.#closing) return
    if (this.#records.size === 0) {
      this.#state = 'idle'
      return
    }
    if (Date.now() - inc.startedAt >= STABLE_MS) this.#failures = 0
    this.#failures++
    void this.#spawn(this.#delay())
  }

  #delay(): number {
    const { restartMinMs, restartMaxMs } = this.#config
    return Math.min(restartMaxMs, restartMinMs * 2 ** Math.max(0, this.#failures - 1))
  }

  /** The restart backoff; close() cuts it short. Unref'd until a call waits for it. */
  #sleep(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>()
    const timer = setTimeout(resolve, ms)
    timer.unref()
    this.#backoff = {
      timer,
      wake: () => {
        clearTimeout(timer)
        resolve()
      },
    }
    return promise.finally(() => {
      this.#backoff = undefined
    })
  }

  async #shutdown(): Promise<void> {
    this.#state = 'closing'
    this.#backoff?.wake()
    // calls already accepted may finish, within a bound
    const drained = Promise.all([...this.#instances].map((i) => i.close()))
    const bound = Promise.withResolvers<void>()
    const timer = setTimeout(bound.resolve, this.#config.closeTimeoutMs)
    timer.unref()
    await Promise.race([drained, bound.promise])
    clearTimeout(timer)
    await this.#starting?.catch(() => {})
    const last = this.#current
    this.#current = undefined
    await last?.proc.stop(this.#config.closeTimeoutMs)
    // without a process, calls still in flight end now (they reject: the runtime is closed)
    await drained
    this.#state = 'closed'
    this.#done.resolve()
  }
}

function closedError() {
  return omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', 'the isolate runtime is closed')
}

function lostFailure(lost: Lost): BatchFailure {
  return new BatchFailure(lost.reason === 'watchdog' ? 'timeout' : 'crashed', lost.message)
}
