import type { Envelope } from '../envelope/schema.ts'

/** Where a plugin's code runs. `inprocess` is for trusted tiers only. */
export const RUNTIMES = ['inprocess', 'isolate', 'container'] as const
export type Runtime = (typeof RUNTIMES)[number]

/**
 * One event handed to a plugin. Sandboxes receive it as a copy (serialized across the
 * boundary), never as a live object of the host.
 */
export interface PluginInput {
  readonly event: Envelope
  readonly labels: Record<string, unknown>
  /** 1 on first delivery */
  readonly attempt: number
}

/** A message a plugin asks to publish; the host checks the subject against its capabilities. */
export interface PluginEmission {
  readonly subject: string
  readonly event: Envelope
}

/** Why a plugin call failed, as a stable kind (recorded as the stage outcome's error). */
export const FAILURE_KINDS = ['threw', 'timeout', 'memory', 'crashed', 'invalid-result', 'unavailable'] as const
export type FailureKind = (typeof FAILURE_KINDS)[number]

/**
 * What a plugin returned for one event, after the host checked its shape. A plugin's own fault
 * is an `error` result for that event, never a rejected promise: the worker decides what to do
 * with it (retry, dead-letter, or record and go on for additive tiers).
 */
export type PluginOutput =
  | {
      readonly type: 'continue'
      readonly data?: Record<string, unknown>
      readonly labels?: Record<string, unknown>
      readonly emit?: readonly PluginEmission[]
    }
  | { readonly type: 'drop'; readonly reason: string }
  | { readonly type: 'error'; readonly kind: FailureKind; readonly message: string }

/** Limits a sandbox enforces on every call; they come from the plugin's approved capabilities. */
export interface SandboxLimits {
  /** heap (isolate) or container memory, in MiB */
  readonly memoryMb: number
  /** wall-clock time allowed for one call into the sandbox (one batch), in ms */
  readonly timeoutMs: number
  /** CPU share for a container (1 = one core); isolates are bounded by `timeoutMs` */
  readonly cpus: number
  /** highest number of processes/threads in a container */
  readonly pids: number
}

/** The verified code of one plugin, as a sandbox needs it. */
export interface PluginCode {
  /** plugin id, e.g. `acme.shout` */
  readonly id: string
  readonly version: string
  /** the plugin's own folder (containers mount it read-only; nothing else of the host) */
  readonly dir: string
  /** the entry file, relative to `dir` */
  readonly main: string
  /**
   * The entry file's exact bytes, as verified against the signed digest. Isolates evaluate
   * these bytes, never a re-read of the file, so a file swapped after verification is not run.
   */
  readonly source: string
  readonly limits: SandboxLimits
  /** container image reference by digest (`name@sha256:…`); containers only */
  readonly image?: string
}

/**
 * The plugin's code contract, the same for every runtime: the entry file is a classic script
 * that declares a top-level function `stage(input)`, which returns (or resolves to)
 * `{ type: 'continue', data?, labels?, emit? }`, `{ type: 'drop', reason }`, or nothing
 * (continue unchanged). `input` is `{ event, labels, attempt }` as plain JSON.
 */
export const STAGE_FUNCTION = 'stage'

/** A loaded plugin in its sandbox, ready for batches of events. */
/** What a caller of PluginInstance.run learns about the inputs it handed over. */
export interface RunWatch {
  /** `inputs[index]` starts running in a call of its own (the sandbox is up and free for it) */
  running(index: number): void
  /**
   * The output of `inputs[index]` is known, possibly long before run() resolves (the others
   * of a failed batch still rerun one by one): its caller need not wait for them.
   */
  settled?(index: number, output: PluginOutput): void
  /**
   * True once nobody waits for `inputs[index]` any more (its stage timed out): a rerun of it
   * alone is then skipped rather than run for nobody.
   */
  abandoned?(index: number): boolean
  /**
   * The caller can do without the outputs of events that share a failed batch (an additive
   * stage, whose failures are only outcomes). While the plugin fails as a whole on every call of
   * one event, such a batch is then not rerun event by event: one crash per event would hold
   * every event up for all the crashes before it.
   */
  readonly bestEffort?: boolean
}

export interface PluginInstance {
  readonly id: string
  readonly runtime: Runtime
  /**
   * Runs the plugin over a batch of events in one call across the boundary; resolves one
   * output per input, in order. Never rejects for the plugin's fault (that is an `error`
   * output); rejects only when the instance was closed. `watch` learns when an input runs in a
   * call of its own, so that its caller's time limit counts that call and not the time the
   * input waited behind other calls or a sandbox restart.
   */
  run(inputs: readonly PluginInput[], watch?: RunWatch): Promise<PluginOutput[]>
  close(): Promise<void>
}

/**
 * One kind of sandbox (isolate process, container engine), shared by its plugins. Nothing
 * starts until the first `load`: no isolate process or container exists when no plugin needs one.
 */
export interface SandboxRuntime {
  readonly runtime: Runtime
  load(code: PluginCode): Promise<PluginInstance>
  /** graceful and idempotent: closes every instance, then the process or connection */
  close(): Promise<void>
  /** resolves once closed; never rejects */
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}
