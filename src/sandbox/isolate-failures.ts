import { failure } from './result.ts'
import type { FailureKind, PluginInput, PluginOutput, RunWatch } from './types.ts'

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
 * One call into a sandbox; rejects with a BatchFailure for a whole-call failure. `started` is
 * called once the call really goes out: after its turn in the instance's queue and after any
 * sandbox (re)start, so that the wait before it counts against nobody's time limit.
 */
export type SandboxCall = (inputs: readonly PluginInput[], started: () => void) => Promise<PluginOutput[]>

/** How many events found at fault an instance remembers (a few KB) */
const SUSPECTS_KEPT = 1024
/** calls of one event in a row that failed as a whole, after which a plugin is taken to fail on every event */
const FAILING_AFTER = 8
/** while a plugin fails on every event, how often a best-effort batch may probe it */
const PROBE_EVERY_MS = 1000

/**
 * Runs batches so that only the event at fault fails. One per plugin instance (isolate or
 * container), because it remembers the events it found at fault.
 */
export interface FailureIsolator {
  run(call: SandboxCall, inputs: readonly PluginInput[], watch?: RunWatch): Promise<PluginOutput[]>
}

/**
 * A batch goes in one call; when the whole call fails (one event hangs or exhausts memory, the
 * sandbox crashes), each event is run alone so that only the event at fault fails and the others
 * still get their results. An event whose call of its own failed that way is a suspect: its
 * retries (a redelivery, another pipeline) run alone from the start, so a poison event does not
 * take down a batch of innocent events on every delivery.
 *
 * Timing: only calls of one event are reported to `watch`, as that event's own execution. A
 * batch call is no event's own: the sandbox's per-call limit bounds it, and when it fails as a
 * whole every event in it still gets a call of its own. So an event takes part in at most one
 * batch call and one call of its own.
 *
 * A plugin that fails on every event (its last FAILING_AFTER calls of one event all failed as a
 * whole, with no call succeeding since) costs one crash per event. For a best-effort caller
 * (RunWatch.bestEffort) a batch then starts with one of its events alone, a probe, at most once
 * per PROBE_EVERY_MS: if it passes, the others go as usual; if not (or when it is not time for a
 * probe), they get the last failure unrun. The same holds when the plugin reaches that state
 * while a failed batch's events are being rerun alone.
 */
export function createFailureIsolator(): FailureIsolator {
  // insertion-ordered: the oldest suspect is forgotten first
  const suspects = new Set<string>()
  /** calls of one event in a row that failed as a whole; any call that succeeds resets it */
  let failing = 0
  /** the last whole-call failure of a call of one event, given unrun while shedding */
  let last: { readonly kind: FailureKind; readonly message: string } = { kind: 'crashed', message: 'the plugin failed' }
  let probedAt = -Infinity
  const remember = (key: string): void => {
    suspects.delete(key)
    suspects.add(key)
    if (suspects.size > SUSPECTS_KEPT) suspects.delete(suspects.values().next().value as string)
  }

  /** Runs `inputs[index]` in a call of its own; a whole-call failure becomes its failure. */
  const alone = async (call: SandboxCall, inputs: readonly PluginInput[], index: number, watch: RunWatch | undefined): Promise<PluginOutput> => {
    const input = inputs[index] as PluginInput
    // its caller gave up: a call for nobody would only delay the calls queued behind it
    if (watch?.abandoned?.(index)) return failure('timeout', 'its stage stopped waiting for it before its turn came')
    const key = eventKey(input)
    try {
      const [output] = await call([input], () => watch?.running(index))
      suspects.delete(key)
      failing = 0
      return output as PluginOutput
    } catch (err) {
      if (!isBatchFailure(err)) throw err
      // 'unavailable' (the sandbox cannot start) is no fault of the event's
      if (err.kind !== 'unavailable') {
        remember(key)
        failing++
        last = { kind: err.kind, message: err.message }
      }
      return failure(err.kind, err.message)
    }
  }

  return {
    async run(call, inputs, watch) {
      const outputs: PluginOutput[] = new Array(inputs.length)
      const done = (i: number, output: PluginOutput): void => {
        outputs[i] = output
        watch?.settled?.(i, output)
      }
      const shedding = (): boolean => watch?.bestEffort === true && failing >= FAILING_AFTER
      const shed = (i: number, kind: FailureKind, message: string): void =>
        done(i, failure(kind, `${message} (not run alone: the plugin failed as a whole on each of its last ${failing} calls of one event)`))
      const fresh: number[] = []
      const solo: number[] = []
      // no event found at fault lately (the usual case): no key to compute per event
      if (suspects.size === 0) for (let i = 0; i < inputs.length; i++) fresh.push(i)
      else inputs.forEach((input, i) => (suspects.has(eventKey(input)) ? solo : fresh).push(i))
      // failing on every event: one event alone first (the probe), not a batch call that would
      // fail too; and between probes, nothing
      if (fresh.length > 0 && shedding()) {
        const now = performance.now()
        if (now - probedAt >= PROBE_EVERY_MS) {
          probedAt = now
          const probe = fresh.shift() as number
          done(probe, await alone(call, inputs, probe, watch))
        }
        if (shedding()) for (const i of fresh.splice(0)) shed(i, last.kind, last.message)
      }
      if (fresh.length === 1) solo.unshift(fresh.pop() as number)
      let rerun: number[] = []
      let failed: BatchFailure | undefined
      if (fresh.length > 0) {
        try {
          const got = await call(
            fresh.map((i) => inputs[i] as PluginInput),
            () => {},
          )
          failing = 0
          fresh.forEach((i, at) => done(i, got[at] as PluginOutput))
        } catch (err) {
          if (!isBatchFailure(err)) throw err
          rerun = fresh
          failed = err
        }
      }
      // in order, one at a time: a second hanging event must not share the first one's budget
      for (const i of rerun) {
        if (failed && i !== rerun[0] && shedding()) shed(i, failed.kind, failed.message)
        else done(i, await alone(call, inputs, i, watch))
      }
      for (const i of solo) done(i, await alone(call, inputs, i, watch))
      return outputs
    },
  }
}

/** Who an event is, across deliveries and pipelines: the CloudEvents identity, per tenant. */
function eventKey(input: PluginInput): string {
  const e = input.event
  return JSON.stringify([e.tenant ?? '', e.source, e.id])
}
