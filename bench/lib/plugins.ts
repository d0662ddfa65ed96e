// What the plugins scenario needs: the trivial plugin, a bench pipeline whose only stage is it,
// an instance wrapper that counts what crosses per call, and a quick look at the Docker engine.
import { readFileSync } from 'node:fs'
import { Agent } from 'node:http'
import Docker from 'dockerode'
import { getCartridge, type Cartridge } from '../../src/cartridges/mod.ts'
import { omniError } from '../../src/errors/mod.ts'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'
import { compilePipeline, type CompiledPipeline } from '../../src/pipeline/compile.ts'
import { pluginCartridge } from '../../src/pipeline/plugin-stage.ts'
import type { PluginCode, PluginInstance, SandboxLimits } from '../../src/sandbox/types.ts'
import { round, summarize, type LatencySummary } from './stats.ts'
import type { BenchContext } from './types.ts'

export const BENCH_PLUGIN_ID = 'bench.upper'

/** The same trivial transform in every runtime: the text upper-cased (the rest of data is kept). */
export const BENCH_PLUGIN_SOURCE = `function stage(input) {
  return { type: 'continue', data: { text: String(input.event.data.text).toUpperCase() } }
}
`

/** Roomy for a one-line transform, and valid everywhere (a container needs ≥ 64 MiB and ≥ 16 pids). */
export const BENCH_PLUGIN_LIMITS: SandboxLimits = { memoryMb: 128, timeoutMs: 5000, cpus: 1, pids: 64 }

/**
 * The plugin as a sandbox gets it after verification. The bench builds it directly: signing and
 * verification cost only at load, never per event. `dir` is nominal: every runtime takes the
 * code from `source` (a container gets a copy written from those bytes).
 */
export function benchPluginCode(image?: string): PluginCode {
  return {
    id: BENCH_PLUGIN_ID,
    version: '1.0.0',
    dir: `/nonexistent/bench/plugins/${BENCH_PLUGIN_ID}`,
    main: 'main.js',
    source: BENCH_PLUGIN_SOURCE,
    limits: BENCH_PLUGIN_LIMITS,
    ...(image !== undefined ? { image } : {}),
  }
}

/**
 * The bench pipeline with `plugin:bench.upper` as its only stage: the fixture pipeline's name,
 * sources, error policy and output subject, so freshPipelineTopology's consumer is the one it reads.
 */
export function pluginPipeline(ctx: BenchContext, instance: () => Promise<PluginInstance>): CompiledPipeline {
  const bench = ctx.fixtures.pipeline
  const cart = pluginCartridge({ plugin: BENCH_PLUGIN_ID, description: 'upper-cases data.text (omni bench)', additive: false, tenants: ['*'], emit: [], instance })
  const manifest = {
    kind: 'Pipeline',
    name: bench.name,
    description: `one plugin stage (plugin:${BENCH_PLUGIN_ID}), for omni bench`,
    sources: [...bench.sources],
    errorPolicy: { maxDeliveries: 3, backoff: ['100ms'] },
    stages: [{ id: 'upper', uses: cart.id }],
    outputs: [{ subject: ctx.fixtures.outputSubject }],
  }
  // JSON is YAML: the manifest goes through the same parser and compiler as a file would
  const result = compilePipeline(parseYamlManifest('bench-plugins.yaml', JSON.stringify(manifest)), (id) => (id === cart.id ? (cart as Cartridge) : getCartridge(id)))
  if (result.type === 'error') throw omniError('OMNI_ERR_MANIFEST', 'the bench plugin pipeline is invalid', { problems: result.problems })
  return result.pipeline
}

/** What crossed into the sandbox, call by call. */
export interface CrossingStats {
  readonly calls: number
  readonly events: number
  /** events per call */
  readonly batch: { readonly min: number; readonly p50: number; readonly mean: number; readonly max: number; readonly histogram: Readonly<Record<string, number>> }
  /** run() round trips as the stage sees them, waiting behind earlier calls included */
  readonly callMs: LatencySummary
}

/** Wraps an instance so every run() call's size and time are recorded (two array pushes per call). */
export function countingInstance(inner: PluginInstance): { readonly instance: PluginInstance; stats(): CrossingStats } {
  const sizes: number[] = []
  const times: number[] = []
  const instance: PluginInstance = {
    id: inner.id,
    runtime: inner.runtime,
    async run(inputs) {
      const t0 = performance.now()
      sizes.push(inputs.length)
      try {
        return await inner.run(inputs)
      } finally {
        times.push(performance.now() - t0)
      }
    },
    close: () => inner.close(),
  }
  return {
    instance,
    stats() {
      const sorted = [...sizes].sort((a, b) => a - b)
      const events = sizes.reduce((s, n) => s + n, 0)
      // buckets by powers of two: "1", "2-3", "4-7", …, "256-511"
      const histogram: Record<string, number> = {}
      for (const n of sorted) {
        const lo = n <= 0 ? 0 : 2 ** Math.floor(Math.log2(n))
        const hi = Math.max(lo, 2 * lo - 1)
        const key = lo === hi ? String(lo) : `${lo}-${hi}`
        histogram[key] = (histogram[key] ?? 0) + 1
      }
      return {
        calls: sizes.length,
        events,
        batch: {
          min: sorted[0] ?? 0,
          p50: sorted[Math.max(0, Math.ceil(sorted.length / 2) - 1)] ?? 0,
          mean: sizes.length === 0 ? 0 : round(events / sizes.length, 1),
          max: sorted.at(-1) ?? 0,
          histogram,
        },
        callMs: summarize([...times]),
      }
    },
  }
}

/** A Docker engine that answered, with a connection of our own to drop afterwards. */
export interface BenchDocker {
  readonly socketPath: string
  readonly docker: Docker
  readonly version: string
  close(): void
}

/**
 * Pings the engine at `socketPath` (bounded by `timeoutMs`). Resolves the engine, or why there is
 * none, in words for the report: a bench row is skipped for it, never faked.
 */
export async function probeDocker(socketPath: string | undefined, timeoutMs = 3000): Promise<BenchDocker | { readonly skip: string }> {
  if (!socketPath) return { skip: 'no Docker engine socket was given (--docker-socket, $OMNI_DOCKER_SOCKET)' }
  const agent = new Agent({ keepAlive: true })
  const docker = new Docker({ socketPath, agent } as Docker.DockerOptions)
  try {
    await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(timeoutMs) })
    const version = await (docker.version as (opts: { abortSignal: AbortSignal }) => Promise<{ Version?: string }>).call(docker, { abortSignal: AbortSignal.timeout(timeoutMs) })
    return { socketPath, docker, version: version.Version ?? 'unknown', close: () => agent.destroy() }
  } catch (err) {
    agent.destroy()
    const e = err as { code?: string; message?: string; name?: string }
    const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : (e.code ?? e.message ?? String(err))
    return { skip: `no Docker engine answers at ${socketPath} (${why})` }
  }
}

// USER_HZ is 100 on every Linux this runs on
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) a process has used in its life; undefined when /proc cannot say. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined || pid <= 0) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/** Options the plugins scenario reads beyond BenchContext; runBench puts them on the context. */
export interface PluginBenchOptions {
  /** the Docker engine for the container row; without one that row is skipped */
  readonly dockerSocket?: string
}

export function dockerSocketOf(ctx: BenchContext): string | undefined {
  const socket = (ctx as BenchContext & PluginBenchOptions).dockerSocket
  return typeof socket === 'string' && socket !== '' ? socket : undefined
}
