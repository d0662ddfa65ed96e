import type { Problem } from '../errors/mod.ts'
import type { SettledEvent } from '../pipeline/worker.ts'

/**
 * What a running node reports, one typed stream (as nats.js reports a connection's status):
 * every settled event, reloads, failures, and the close.
 */
export type NodeStatus =
  | SettledEvent
  | { readonly type: 'hook-failed'; readonly pipeline: string; readonly error: string }
  | { readonly type: 'outcomes-rejected'; readonly pipeline: string; readonly error: string }
  | { readonly type: 'reloaded'; readonly added: readonly string[]; readonly changed: readonly string[]; readonly removed: readonly string[] }
  | { readonly type: 'reload-rejected'; readonly problems: readonly Problem[] }
  | { readonly type: 'failed'; readonly reason: string }
  | { readonly type: 'stopped' }

/** Statuses a slow reader may fall behind by before the oldest are dropped (and counted). */
const MAX_QUEUED = 16_384

/**
 * Fans statuses out to every reader; each reader has its own bounded queue. Workers consume
 * before startNode returns, so what happens before the first reader subscribes is kept for it
 * (within the same bound), and a failure is replayed to every later reader too.
 */
export interface StatusHub {
  emit(status: NodeStatus): void
  /** a new reader: statuses from now on (the first one also gets those from before it), until the hub ends or the reader returns */
  subscribe(): AsyncIterableIterator<NodeStatus> & { readonly dropped: number }
  /** ends every reader after what it has queued */
  end(): void
}

export function createStatusHub(): StatusHub {
  const readers = new Set<Reader>()
  // until the first reader comes: a reader of its own that nobody reads yet
  let early: Reader | undefined = new Reader(() => undefined)
  let failure: NodeStatus | undefined
  let ended = false
  return {
    emit(status) {
      if (status.type === 'failed') failure ??= status
      early?.push(status)
      for (const r of readers) r.push(status)
    },
    subscribe() {
      let reader: Reader
      if (early) {
        reader = early
        early = undefined
      } else {
        reader = new Reader(() => undefined)
        if (failure) reader.push(failure)
      }
      reader.detach = () => readers.delete(reader)
      if (ended) reader.end()
      else readers.add(reader)
      return reader
    },
    end() {
      ended = true
      early = undefined
      for (const r of readers) r.end()
      readers.clear()
    },
  }
}

class Reader implements AsyncIterableIterator<NodeStatus> {
  readonly #queue: NodeStatus[] = []
  #waiting: PromiseWithResolvers<IteratorResult<NodeStatus>> | undefined
  #ended = false
  detach: () => void
  dropped = 0

  constructor(detach: () => void) {
    this.detach = detach
  }

  push(status: NodeStatus): void {
    if (this.#waiting) {
      const w = this.#waiting
      this.#waiting = undefined
      w.resolve({ value: status, done: false })
      return
    }
    // a reader that stopped reading must not grow the node's memory without bound
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift()
      this.dropped++
    }
    this.#queue.push(status)
  }

  end(): void {
    this.#ended = true
    this.#waiting?.resolve({ value: undefined, done: true })
    this.#waiting = undefined
  }

  next(): Promise<IteratorResult<NodeStatus>> {
    const value = this.#queue.shift()
    if (value !== undefined) return Promise.resolve({ value, done: false })
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    this.#waiting = Promise.withResolvers()
    return this.#waiting.promise
  }

  return(): Promise<IteratorResult<NodeStatus>> {
    this.detach()
    this.end()
    this.#queue.length = 0
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
