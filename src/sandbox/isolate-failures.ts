import { failure } from './result.ts'
import type { FailureKind, PluginInput, PluginOutput } from './types.ts'

/** A failure of a whole call into a sandbox (not of one event): a timeout, an OOM, a crash. */
export class BatchFailure extends Error {
  readonly kind: FailureKind
  constructor(kind: FailureKind, message: string) {
    super(message)
    this.name = 'BatchFailure'
    this.kind = kind
  }
}

/** Recognises a BatchFailure by shape, also when it crossed a process boundary. */
export function isBatchFailure(err: unknown): err is BatchFailure {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'BatchFailure' && typeof (err as { kind?: unknown }).kind === 'string'
}

/**
 * Runs a batch in one call; when the whole call fails (one event hangs or exhausts memory, the
 * sandbox crashes), runs each event alone so that only the event at fault fails and the others
 * still get their results. `call` rejects with a BatchFailure for a whole-call failure.
 */
export async function runIsolatingFailures(call: (inputs: readonly PluginInput[]) => Promise<PluginOutput[]>, inputs: readonly PluginInput[]): Promise<PluginOutput[]> {
  try {
    return await call(inputs)
  } catch (err) {
    if (!isBatchFailure(err)) throw err
    if (inputs.length === 1) return [failure(err.kind, err.message)]
  }
  const outputs: PluginOutput[] = []
  // one at a time: a second hanging event must not share the first one's time budget
  for (const input of inputs) {
    try {
      outputs.push(...(await call([input])))
    } catch (err) {
      if (!isBatchFailure(err)) throw err
      outputs.push(failure(err.kind, err.message))
    }
  }
  return outputs
}
