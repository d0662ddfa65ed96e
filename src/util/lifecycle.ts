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
