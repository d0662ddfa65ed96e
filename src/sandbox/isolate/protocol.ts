import { FAILURE_KINDS, type FailureKind } from '../types.ts'

/**
 * Messages between the worker (the supervisor) and the isolate process. Plugin data crosses as
 * one JSON string per batch each way, so the process never builds plugin objects itself.
 */

/** Load a plugin into an isolate of its own, evaluating its verified bytes. */
export interface LoadRequest {
  readonly type: 'load'
  readonly id: number
  /** unique per loaded instance: one plugin id may be loaded more than once */
  readonly key: string
  readonly filename: string
  readonly source: string
  readonly memoryMb: number
  readonly timeoutMs: number
}

/** Run `stage` over a batch: `input` is a JSON array of `PluginInput`. */
export interface RunRequest {
  readonly type: 'run'
  readonly id: number
  readonly key: string
  readonly input: string
}

/** Dispose a plugin's isolate. */
export interface UnloadRequest {
  readonly type: 'unload'
  readonly id: number
  readonly key: string
}

export type Request = LoadRequest | RunRequest | UnloadRequest

/** Sent once by the isolate process when isolated-vm loaded and it accepts requests. */
export interface ReadyMessage {
  readonly type: 'ready'
}

/** A request succeeded; a run carries `output`, a JSON array of `BatchEntry`, one per input. */
export interface OkReply {
  readonly type: 'ok'
  readonly id: number
  readonly output?: string
}

/** A whole request failed (for a load: the plugin cannot be loaded). */
export interface FailReply {
  readonly type: 'fail'
  readonly id: number
  readonly kind: FailureKind
  readonly message: string
}

export type Reply = OkReply | FailReply
export type ChildMessage = ReadyMessage | Reply

/**
 * What the in-isolate wrapper returns for one event: the value `stage` returned (absent for
 * `undefined`), what it threw, or why its value could not be serialized.
 */
export type BatchEntry = { readonly ok?: unknown } | { readonly err: string } | { readonly bad: string }

/** Checks a message from the isolate process: it hosts untrusted code, so nothing is assumed. */
export function isChildMessage(msg: unknown): msg is ChildMessage {
  if (typeof msg !== 'object' || msg === null) return false
  const m = msg as Record<string, unknown>
  if (m['type'] === 'ready') return true
  if (typeof m['id'] !== 'number') return false
  if (m['type'] === 'ok') return m['output'] === undefined || typeof m['output'] === 'string'
  return m['type'] === 'fail' && FAILURE_KINDS.includes(m['kind'] as FailureKind) && typeof m['message'] === 'string'
}
