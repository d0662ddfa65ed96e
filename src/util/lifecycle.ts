/**
 * The lifecycle every long-lived object shares: `close()` runs the release once (later calls
 * get the same promise), `closed()` resolves once released and never rejects, and the object
 * works with `await using`.
 */
export interface Closable {
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Wraps a release step into the shared lifecycle. */
export function closeOnce(release: () => Promise<void>): Closable {
  const done = Promise.withResolvers<void>()
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= release().finally(() => done.resolve()))
  return { close, closed: () => done.promise, [Symbol.asyncDispose]: close }
}

/**
 * The same lifecycle for a class: it implements `release()`, run once by the first `close()`.
 * A part that can end on its own (a consumer that failed) calls `ended()`, so `closed()`
 * resolves then too.
 */
export abstract class Lifecycle implements Closable {
  readonly #done = Promise.withResolvers<void>()
  #closing: Promise<void> | undefined

  /** Frees what the object holds; called once. */
  protected abstract release(): Promise<void>

  /** The object ended on its own: `closed()` resolves now (close() still releases). */
  protected ended(): void {
    this.#done.resolve()
  }

  /** True once close() was called. */
  protected get closing(): boolean {
    return this.#closing !== undefined
  }

  close(): Promise<void> {
    this.#closing ??= this.release().finally(() => this.#done.resolve())
    return this.#closing
  }

  closed(): Promise<void> {
    return this.#done.promise
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}
