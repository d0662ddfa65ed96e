import ivm from 'isolated-vm'
import type { FailureKind } from '../types.ts'
import { WRAPPER_FILENAME, WRAPPER_SOURCE } from './wrapper.ts'

/** What the isolate process needs to build a plugin's isolate. */
export interface PluginSpec {
  readonly filename: string
  readonly source: string
  readonly memoryMb: number
  readonly timeoutMs: number
}

export type IsolateOutcome = { readonly type: 'ok'; readonly output: string } | { readonly type: 'fail'; readonly kind: FailureKind; readonly message: string }

/** One plugin in an isolate of its own, rebuilt after a call that timed out or ran out of memory. */
export interface PluginIsolate {
  /** runs a batch (a JSON array of inputs); never rejects */
  run(input: string): Promise<IsolateOutcome>
  dispose(): void
}

type BatchRunner = (json: string) => Promise<string>

interface Built {
  readonly isolate: ivm.Isolate
  readonly runner: ivm.Reference<BatchRunner>
}

/** Thrown by `loadPluginIsolate` when the plugin cannot be loaded. */
export class LoadFailure extends Error {
  readonly kind: FailureKind
  constructor(kind: FailureKind, message: string) {
    super(message)
    this.name = 'LoadFailure'
    this.kind = kind
  }
}

/**
 * Builds the plugin's isolate: the wrapper first, then the plugin's verified bytes as a classic
 * script (never cached data), then `bind()` to find its `stage`. Rejects with a LoadFailure.
 */
export async function loadPluginIsolate(spec: PluginSpec, onCatastrophe: (message: string) => void): Promise<PluginIsolate> {
  const impl = new PluginIsolateImpl(spec, onCatastrophe)
  await impl.start()
  return impl
}

class PluginIsolateImpl implements PluginIsolate {
  readonly #spec: PluginSpec
  readonly #onCatastrophe: (message: string) => void
  #current: Promise<Built> | undefined
  #disposed = false

  constructor(spec: PluginSpec, onCatastrophe: (message: string) => void) {
    this.#spec = spec
    this.#onCatastrophe = onCatastrophe
  }

  async start(): Promise<void> {
    this.#current = this.#build()
    await this.#current
  }

  async run(input: string): Promise<IsolateOutcome> {
    let built: Built
    try {
      if (this.#disposed || !this.#current) return { type: 'fail', kind: 'crashed', message: 'the plugin was unloaded' }
      built = await this.#current
    } catch (err) {
      // the previous failure's rebuild failed: try again for the next call
      this.#current = this.#build()
      this.#current.catch(() => {})
      return { type: 'fail', kind: 'crashed', message: `the plugin's isolate could not be re-created: ${messageOf(err)}` }
    }
    const { timeoutMs, memoryMb } = this.#spec
    let timedOut = false
    // `timeout` below bounds synchronous work (microtasks included); this timer bounds the
    // wall-clock time of a promise that never settles, by disposing the isolate under it
    const timer = setTimeout(() => {
      timedOut = true
      disposeQuietly(built.isolate)
    }, timeoutMs)
    timer.unref()
    try {
      const output = await built.runner.apply(undefined, [input], { arguments: { copy: true }, result: { promise: true, copy: true }, timeout: timeoutMs })
      if (typeof output !== 'string') throw new Error('the wrapper returned no batch output')
      return { type: 'ok', output }
    } catch (err) {
      const message = messageOf(err)
      const disposed = built.isolate.isDisposed
      this.#rebuild(built)
      if (timedOut || /^Script execution timed out/.test(message)) return { type: 'fail', kind: 'timeout', message: `plugin exceeded its time limit of ${timeoutMs} ms` }
      if (disposed && /memory limit/i.test(message)) return { type: 'fail', kind: 'memory', message: `plugin exceeded its memory limit of ${memoryMb} MiB` }
      if (disposed) return { type: 'fail', kind: 'crashed', message: `the plugin's isolate failed: ${message}` }
      // isolated-vm fails the whole call for a rejection nobody handled, even one an event
      // left behind: the rerun of each event alone pins it on the event that did it
      return { type: 'fail', kind: 'threw', message: `the plugin failed outside stage's result (e.g. a rejected promise nobody handled): ${message}` }
    } finally {
      clearTimeout(timer)
    }
  }

  dispose(): void {
    this.#disposed = true
    const current = this.#current
    this.#current = undefined
    void current?.then((b) => disposeQuietly(b.isolate), () => {})
  }

  /** Replaces an isolate whose state is unknown after a failed call; ready by the next call. */
  #rebuild(failed: Built): void {
    disposeQuietly(failed.isolate)
    if (this.#disposed) return
    this.#current = this.#build()
    this.#current.catch(() => {})
  }

  async #build(): Promise<Built> {
    const { filename, source, memoryMb, timeoutMs } = this.#spec
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError: this.#onCatastrophe })
    try {
      const context = await isolate.createContext()
      const wrapper = await isolate.compileScript(WRAPPER_SOURCE, { filename: WRAPPER_FILENAME })
      const bind = (await wrapper.run(context, { reference: true, release: true })) as ivm.Reference<() => BatchRunner | undefined>
      const plugin = await isolate.compileScript(source, { filename })
      await plugin.run(context, { timeout: timeoutMs, release: true })
      const runner = (await bind.apply(undefined, [], { result: { reference: true }, timeout: timeoutMs })) as ivm.Reference<BatchRunner>
      bind.release()
      if (runner.typeof !== 'function') throw new LoadFailure('invalid-result', `${filename} declares no function \`stage(input)\``)
      return { isolate, runner }
    } catch (err) {
      const disposed = isolate.isDisposed
      disposeQuietly(isolate)
      if (err instanceof LoadFailure) throw err
      const message = messageOf(err)
      if (/^Script execution timed out/.test(message)) throw new LoadFailure('timeout', `its top-level code exceeded the time limit of ${timeoutMs} ms`)
      if (disposed && /memory limit/i.test(message)) throw new LoadFailure('memory', `its top-level code exceeded the memory limit of ${memoryMb} MiB`)
      throw new LoadFailure('threw', message)
    }
  }
}

function disposeQuietly(isolate: ivm.Isolate): void {
  if (!isolate.isDisposed) isolate.dispose()
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.message : `${err.name}: ${err.message}`
  return String(err)
}
