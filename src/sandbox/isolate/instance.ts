import { omniError } from '../../errors/mod.ts'
import { BatchFailure, createFailureIsolator, type SandboxCall } from '../isolate-failures.ts'
import { checkOutput, failure } from '../result.ts'
import type { PluginInput, PluginInstance, PluginOutput, RunWatch } from '../types.ts'

/**
 * One call across the boundary for a batch; rejects with a BatchFailure for a whole-call failure.
 * Calls `started` once the process is up and the request goes out.
 */
export type BatchCall = SandboxCall

/**
 * A plugin loaded in the isolate process. Calls go out one at a time (an isolate runs one
 * thing at a time anyway, and a timeout then belongs to the batch that caused it); a batch
 * that fails as a whole is rerun event by event, so only the event at fault fails, and an event
 * found at fault runs alone on its next attempts (isolate-failures.ts).
 */
export function createIsolateInstance(id: string, call: BatchCall, release: () => Promise<void>): PluginInstance {
  return new IsolateInstance(id, call, release)
}

class IsolateInstance implements PluginInstance {
  readonly id: string
  readonly runtime = 'isolate' as const
  readonly #call: BatchCall
  readonly #release: () => Promise<void>
  #tail: Promise<unknown> = Promise.resolve()
  readonly #isolator = createFailureIsolator()
  #closing: Promise<void> | undefined

  constructor(id: string, call: BatchCall, release: () => Promise<void>) {
    this.id = id
    this.#call = call
    this.#release = release
  }

  async run(inputs: readonly PluginInput[], watch?: RunWatch): Promise<PluginOutput[]> {
    if (this.#closing) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `plugin ${this.id} was closed`)
    if (inputs.length === 0) return []
    return this.#isolator.run((batch, started) => this.#serial(batch, started), inputs, watch)
  }

  /** graceful: calls already accepted finish first */
  close(): Promise<void> {
    this.#closing ??= this.#tail.then(() => this.#release())
    return this.#closing
  }

  #serial(batch: readonly PluginInput[], started: () => void): Promise<PluginOutput[]> {
    const result = this.#tail.then(() => this.#call(batch, started))
    this.#tail = result.catch(() => {})
    return result
  }
}

/**
 * Turns the isolate's batch output (a JSON array of entries, one per input) into checked
 * outputs. Nothing from the isolate is trusted: each value goes through `checkOutput`.
 */
export function decodeOutputs(output: string | undefined, count: number): PluginOutput[] {
  let entries: unknown
  try {
    entries = JSON.parse(output ?? 'null')
  } catch {
    throw new BatchFailure('invalid-result', 'the isolate returned a batch output that is not JSON')
  }
  if (!Array.isArray(entries) || entries.length !== count) throw new BatchFailure('invalid-result', `the isolate returned ${Array.isArray(entries) ? entries.length : 'no'} results for ${count} events`)
  return entries.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return failure('invalid-result', 'invalid result entry')
    if (Object.hasOwn(entry, 'err')) return failure('threw', String((entry as { err: unknown }).err))
    if (Object.hasOwn(entry, 'bad')) return failure('invalid-result', String((entry as { bad: unknown }).bad))
    return checkOutput((entry as { ok?: unknown }).ok)
  })
}
