import { omniError, type Problem } from '../../errors/mod.ts'
import type { SandboxLimits } from '../types.ts'

/** Options of the isolate runtime; every one has a default. */
export interface IsolateRuntimeOptions {
  /** delay before the first restart of a crashed isolate process, doubling per failure in a row (100 ms) */
  readonly restartMinMs?: number
  /** longest delay between restarts (5 s) */
  readonly restartMaxMs?: number
  /** time the isolate process has to start and report ready (10 s) */
  readonly startTimeoutMs?: number
  /** added to a call's own limits before the watchdog kills a process that stopped answering (2 s) */
  readonly watchdogGraceMs?: number
  /** how long close() waits for calls in flight, then for the process to exit, before killing it (5 s) */
  readonly closeTimeoutMs?: number
}

export type IsolateRuntimeConfig = Readonly<Required<IsolateRuntimeOptions>>

const DEFAULTS: IsolateRuntimeConfig = {
  restartMinMs: 100,
  restartMaxMs: 5000,
  startTimeoutMs: 10_000,
  watchdogGraceMs: 2000,
  closeTimeoutMs: 5000,
}

/** isolated-vm refuses a smaller heap */
const MIN_MEMORY_MB = 8

/** Defaults, then one validation reporting every invalid option by name, then frozen. */
export function resolveIsolateOptions(opts: IsolateRuntimeOptions): IsolateRuntimeConfig {
  const config = { ...DEFAULTS, ...opts }
  const problems: Problem[] = []
  for (const key of Object.keys(DEFAULTS) as (keyof IsolateRuntimeConfig)[]) {
    const value = config[key]
    if (!Number.isInteger(value) || value < 0) problems.push({ where: key, message: `must be a whole number of ms ≥ 0, got ${String(value)}` })
  }
  if (problems.length === 0 && config.restartMaxMs < config.restartMinMs) problems.push({ where: 'restartMaxMs', message: 'must not be less than restartMinMs' })
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid isolate runtime options', { problems })
  return Object.freeze(config)
}

/** Checks a plugin's limits against what an isolate can enforce. */
export function checkIsolateLimits(id: string, limits: SandboxLimits): void {
  const problems: Problem[] = []
  if (!Number.isInteger(limits.memoryMb) || limits.memoryMb < MIN_MEMORY_MB) problems.push({ where: 'limits.memoryMb', message: `must be a whole number ≥ ${MIN_MEMORY_MB}, got ${limits.memoryMb}` })
  if (!Number.isInteger(limits.timeoutMs) || limits.timeoutMs < 1) problems.push({ where: 'limits.timeoutMs', message: `must be a whole number ≥ 1, got ${limits.timeoutMs}` })
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', `plugin ${id}: limits an isolate cannot enforce`, { problems, permanent: true })
}

/** How long a load or a call may go unanswered: its own limits, one isolate rebuild, and a grace. */
export function watchdogMs(limits: SandboxLimits, config: IsolateRuntimeConfig): number {
  return 2 * limits.timeoutMs + config.watchdogGraceMs
}
