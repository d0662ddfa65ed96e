import { omniError } from '../../errors/mod.ts'
import { createFailureIsolator } from '../isolate-failures.ts'
import { checkOutput, failure } from '../result.ts'
import type { PluginInput, PluginInstance, PluginOutput, RunWatch } from '../types.ts'
import type { Sidecar } from './sidecar.ts'

/** A plugin loaded in its own container. */
export interface ContainerPluginInstance extends PluginInstance {
  readonly runtime: 'container'
  /** the container's id; undefined once closed */
  containerId(): string | undefined
}

/**
 * Calls go out one at a time (the runner runs one batch at a time anyway, and a timeout then
 * belongs to the batch that caused it); a batch that fails as a whole is rerun event by event,
 * so only the event at fault fails, and an event found at fault runs alone on its next attempts
 * (isolate-failures.ts).
 */
export function createContainerInstance(id: string, sidecar: Sidecar, release: () => void): ContainerPluginInstance {
  return new ContainerInstance(id, sidecar, release)
}

class ContainerInstance implements ContainerPluginInstance {
  readonly id: string
  readonly runtime = 'container' as const
  readonly #sidecar: Sidecar
  readonly #release: () => void
  #tail: Promise<unknown> = Promise.resolve()
  readonly #isolator = createFailureIsolator()
  #closing: Promise<void> | undefined

  constructor(id: string, sidecar: Sidecar, release: () => void) {
    this.id = id
    this.#sidecar = sidecar
    this.#release = release
  }

  containerId(): string | undefined {
    return this.#closing ? undefined : this.#sidecar.containerId()
  }

  async run(inputs: readonly PluginInput[], watch?: RunWatch): Promise<PluginOutput[]> {
    if (this.#closing) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `plugin ${this.id} was closed`)
    if (inputs.length === 0) return []
    return this.#isolator.run((batch, started) => this.#serial(batch, started), inputs, watch)
  }

  /** graceful: calls already accepted finish first, then the container is removed */
  close(): Promise<void> {
    this.#closing ??= this.#tail.then(async () => {
      await this.#sidecar.close()
      this.#release()
    })
    return this.#closing
  }

  #serial(batch: readonly PluginInput[], started: () => void): Promise<PluginOutput[]> {
    const result = this.#tail.then(async () => decodeOutputs(await this.#sidecar.call(batch, started)))
    this.#tail = result.catch(() => {})
    return result
  }
}

/**
 * Turns the runner's entries (`{ ok }`, `{ err }` or `{ bad }`, one per input) into checked
 * outputs. Nothing from the container is trusted: values must be plain JSON data (msgpack could
 * carry dates, maps, typed arrays…), then each goes through `checkOutput`.
 */
export function decodeOutputs(entries: readonly unknown[]): PluginOutput[] {
  return entries.map((entry) => {
    if (!isRecord(entry)) return failure('invalid-result', 'invalid result entry from the runner')
    if (typeof entry['err'] === 'string') return failure('threw', entry['err'])
    if (typeof entry['bad'] === 'string') return failure('invalid-result', entry['bad'])
    const value = entry['ok']
    if (!plainJson(value, 0)) return failure('invalid-result', 'invalid result: not plain JSON data')
    return checkOutput(value)
  })
}

const MAX_DEPTH = 64

function plainJson(value: unknown, depth: number): boolean {
  if (value === null || value === undefined) return true
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object': {
      if (depth > MAX_DEPTH) return false
      if (Array.isArray(value)) return value.every((v) => plainJson(v, depth + 1))
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) if (!plainJson((value as Record<string, unknown>)[key], depth + 1)) return false
      return true
    }
    default:
      return false
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
}
