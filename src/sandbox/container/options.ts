import { isAbsolute } from 'node:path'
import { omniError, type Problem } from '../../errors/mod.ts'
import type { Logger } from '../../observability/logger.ts'
import { silentLogger } from '../../observability/logger.ts'
import type { SandboxLimits } from '../types.ts'
import { DEFAULT_MAX_FRAME_BYTES } from './frames.ts'

/** Options of the container runtime. */
export interface ContainerRuntimeOptions {
  /** the Docker engine's Unix socket */
  readonly socketPath: string
  /** host folder (absolute) for the per-plugin folders: a copy of the plugin's code and its socket folder */
  readonly workDir: string
  readonly logger?: Logger
  /** time a started container's runner has to listen and say hello (10 s) */
  readonly startTimeoutMs?: number
  /**
   * added to a plugin's `timeoutMs` before the host gives up on a call and restarts the
   * container (1 s): the runner's own timeout stops synchronous loops first, without a restart
   */
  readonly timeoutGraceMs?: number
  /** time allowed for one engine API call (create, inspect, restart, remove…) (15 s) */
  readonly engineTimeoutMs?: number
  /** how long close() lets calls in flight finish before it removes the containers (5 s) */
  readonly closeTimeoutMs?: number
  /** largest frame either way on a runner's socket (64 MiB) */
  readonly maxFrameBytes?: number
}

export interface ContainerRuntimeConfig {
  readonly socketPath: string
  readonly workDir: string
  readonly logger: Logger
  readonly startTimeoutMs: number
  readonly timeoutGraceMs: number
  readonly engineTimeoutMs: number
  readonly closeTimeoutMs: number
  readonly maxFrameBytes: number
}

const DEFAULTS = {
  startTimeoutMs: 10_000,
  timeoutGraceMs: 1000,
  engineTimeoutMs: 15_000,
  closeTimeoutMs: 5000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
} as const

/** The runner (Node) needs this much memory to start at all. */
export const MIN_MEMORY_MB = 64
/** Node runs a handful of threads (main, V8 platform workers, libuv). */
export const MIN_PIDS = 16

/** Defaults, then one validation reporting every invalid option by name, then frozen. */
export function resolveContainerOptions(opts: ContainerRuntimeOptions): ContainerRuntimeConfig {
  const config = { ...DEFAULTS, ...opts, logger: opts.logger ?? silentLogger() }
  const problems: Problem[] = []
  if (typeof config.socketPath !== 'string' || config.socketPath === '') problems.push({ where: 'socketPath', message: 'must be the path of the Docker engine socket' })
  if (typeof config.workDir !== 'string' || !isAbsolute(config.workDir)) problems.push({ where: 'workDir', message: `must be an absolute path (bind mounts need one), got ${String(config.workDir)}` })
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const value = config[key]
    if (!Number.isInteger(value) || value < 1) problems.push({ where: key, message: `must be a whole number ≥ 1, got ${String(value)}` })
  }
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid container runtime options', { problems })
  return Object.freeze(config)
}

/** Checks a plugin's limits against what a container can enforce. */
export function checkContainerLimits(id: string, limits: SandboxLimits): void {
  const problems: Problem[] = []
  if (!Number.isInteger(limits.memoryMb) || limits.memoryMb < MIN_MEMORY_MB) problems.push({ where: 'limits.memoryMb', message: `must be a whole number ≥ ${MIN_MEMORY_MB}, got ${limits.memoryMb}` })
  if (!Number.isInteger(limits.timeoutMs) || limits.timeoutMs < 1) problems.push({ where: 'limits.timeoutMs', message: `must be a whole number ≥ 1, got ${limits.timeoutMs}` })
  if (!Number.isFinite(limits.cpus) || limits.cpus < 0.01) problems.push({ where: 'limits.cpus', message: `must be a number ≥ 0.01, got ${limits.cpus}` })
  if (!Number.isInteger(limits.pids) || limits.pids < MIN_PIDS) problems.push({ where: 'limits.pids', message: `must be a whole number ≥ ${MIN_PIDS}, got ${limits.pids}` })
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', `plugin ${id}: limits a container cannot enforce`, { problems, permanent: true })
}

/** How long the host waits for one call: the plugin's own limit and a grace for the runner's. */
export function callTimeoutMs(limits: SandboxLimits, config: ContainerRuntimeConfig): number {
  return limits.timeoutMs + config.timeoutGraceMs
}
