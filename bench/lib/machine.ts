import { readFileSync } from 'node:fs'
import { arch, cpus, platform, release, totalmem } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { MB, round } from './stats.ts'

/** Where the numbers were measured; written into the JSON next to them. */
export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryMB: number
  readonly os: string
  readonly node: string
  readonly natsServer: string
  readonly date: string
}

export function machineInfo(natsServerVersion: string): MachineInfo {
  const cpu = cpus()
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryMB: Math.round(totalmem() / MB),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    natsServer: natsServerVersion,
    date: new Date().toISOString(),
  }
}

// USER_HZ is 100 on every Linux this runs on
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) a process has used so far; undefined when /proc cannot say. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the parenthesised command name: state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/**
 * Share of one core each process used between `start()` and `stop()` (1.0 = one full core).
 * `main` is the bench's JavaScript thread alone: the rest of `bench` is other threads (GC, and
 * the embedded ClickHouse engine when it runs in process).
 */
export interface CpuMeter {
  stop(): { readonly bench: number; readonly main: number; readonly server?: number }
}

export function startCpuMeter(serverPid: number | undefined): CpuMeter {
  const t0 = performance.now()
  const own0 = process.cpuUsage()
  const main0 = process.threadCpuUsage()
  const server0 = serverPid === undefined ? undefined : cpuSeconds(serverPid)
  return {
    stop() {
      const wall = (performance.now() - t0) / 1000
      const own = process.cpuUsage(own0)
      const thread = process.threadCpuUsage(main0)
      const bench = round((own.user + own.system) / 1e6 / wall)
      const main = round((thread.user + thread.system) / 1e6 / wall)
      const server1 = serverPid === undefined ? undefined : cpuSeconds(serverPid)
      if (server0 === undefined || server1 === undefined || wall <= 0) return { bench, main }
      return { bench, main, server: round((server1 - server0) / wall) }
    },
  }
}

/** How long the event loop was held up, in ms beyond the sampling timer's own interval. */
export interface LoopStalls {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

// sampled every millisecond (a native timer: it runs no JavaScript), so 1 ms is the floor
const LOOP_RESOLUTION_MS = 1

/** Starts sampling event-loop delay; `stop()` returns the stalls seen meanwhile. */
export function startLoopMeter(): { stop(): LoopStalls } {
  const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  h.enable()
  const ms = (ns: number) => round(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS))
  return {
    stop() {
      h.disable()
      return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) }
    },
  }
}
