// One trivial plugin stage (data.text upper-cased) in each sandbox runtime: in process, in an
// isolated-vm isolate (one child process), in a no-network container sidecar. Like the pipeline
// end to end: N events wait in the stream, then the clock starts with loading the plugin, the
// worker starts with a pipeline whose only stage is the plugin, and the clock stops when every
// event is acked and its output stored. Each runtime's rate is compared with the in-process row
// of the same run, and the time to the first ack says how long a pipeline takes to come up.
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { buildRunnerImage, createContainerRuntime, type ContainerRuntime, type RunnerImageProgress } from '../../src/sandbox/container/mod.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { RUNTIME_LABEL } from '../../src/sandbox/container/settings.ts'
import { createInprocessRuntime } from '../../src/sandbox/inprocess.ts'
import { createIsolateRuntime } from '../../src/sandbox/isolate/runtime.ts'
import type { PluginCode, PluginInstance, Runtime, SandboxRuntime } from '../../src/sandbox/types.ts'
import { startCpuMeter } from '../lib/machine.ts'
import { benchPluginCode, BENCH_PLUGIN_LIMITS, countingInstance, dockerSocketOf, pluginPipeline, probeDocker, processCpuSeconds, type BenchDocker, type CrossingStats } from '../lib/plugins.ts'
import { prePublish } from '../lib/publish.ts'
import { round } from '../lib/stats.ts'
import { cleanPipelineTopology, freshPipelineTopology, storedOn } from '../lib/topology.ts'
import { bestRow, type BenchContext, type Scenario, type ScenarioResult } from '../lib/types.ts'
import { startBenchWorker, type BenchWorker } from '../lib/worker.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The row every sandbox is compared with. */
const BASELINE_TITLE = 'inprocess plugin stage'

interface RowSpec {
  readonly runtime: Runtime
  readonly id: string
  readonly title: string
  /** the least share of the in-process rate this runtime should reach */
  readonly minRatio?: number
  /** the most time from the start of load() to the first ack */
  readonly firstEventMs?: number
}

const ROWS: readonly RowSpec[] = [
  { runtime: 'inprocess', id: 'plugins.inprocess', title: BASELINE_TITLE },
  { runtime: 'isolate', id: 'plugins.isolate', title: 'isolate plugin stage', minRatio: 0.5, firstEventMs: 1000 },
  { runtime: 'container', id: 'plugins.container', title: 'container plugin stage', minRatio: 0.3, firstEventMs: 2000 },
]

/** A runtime ready for a row: what was prepared off the clock, and how to measure and close it. */
interface Sandbox {
  readonly runtime: SandboxRuntime
  readonly code: PluginCode
  /** prepared before the clock (the container image), for the details */
  readonly prepared: Readonly<Record<string, unknown>>
  /** the process running the plugin, once loaded (undefined in process) */
  sandboxPid(instance: PluginInstance): Promise<number | undefined>
  /** closes the runtime and makes sure nothing of it is left; says what had to be cleaned up */
  close(): Promise<Readonly<Record<string, unknown>>>
}

function inprocessSandbox(): Sandbox {
  const runtime = createInprocessRuntime()
  return {
    runtime,
    code: benchPluginCode(),
    prepared: {},
    sandboxPid: async () => undefined,
    async close() {
      await runtime.close()
      return {}
    },
  }
}

function isolateSandbox(): Sandbox {
  const runtime = createIsolateRuntime()
  return {
    runtime,
    code: benchPluginCode(),
    prepared: {},
    sandboxPid: async () => runtime.pid(),
    async close() {
      const pid = runtime.pid()
      await runtime.close()
      return { processLeft: pid !== undefined && processCpuSeconds(pid) !== undefined }
    },
  }
}

/** Builds (or reuses) the runner image off the clock, then a runtime on a work folder of its own. */
async function containerSandbox(ctx: BenchContext, engine: BenchDocker): Promise<Sandbox> {
  const t0 = performance.now()
  let phase: RunnerImageProgress['type'] | undefined
  const image = await buildRunnerImage(engine.docker, {
    onProgress: (p) => {
      if (p.type === 'importing' && phase !== 'importing') ctx.log(`  building the runner image ${p.totalBytes > 0 ? `(${Math.round(p.totalBytes / 1e6)} MB)` : ''}…`)
      phase = p.type
    },
  })
  const imageSeconds = (performance.now() - t0) / 1000
  const workDir = join(ctx.tmpDir, 'plugin-containers')
  await mkdir(workDir, { recursive: true, mode: 0o700 })
  const runtime: ContainerRuntime = createContainerRuntime({ socketPath: engine.socketPath, workDir })
  return {
    runtime,
    code: benchPluginCode(image.ref),
    prepared: { engine: { socket: engine.socketPath, version: engine.version }, image: { ref: image.ref, reused: phase === 'reused', seconds: round(imageSeconds, 3) } },
    async sandboxPid(instance) {
      const id = (instance as { containerId?: () => string | undefined }).containerId?.()
      if (!id) return undefined
      const info = await engine.docker.getContainer(id).inspect().catch(() => undefined)
      return info?.State.Pid
    },
    async close() {
      await runtime.close()
      const left = await engine.docker.listContainers({ all: true, filters: { label: [`${RUNTIME_LABEL}=${runtime.runtimeId}`] } }).catch(() => [])
      await Promise.all(left.map((c) => engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
      const folders = await readdir(workDir).catch(() => [])
      await rm(workDir, { recursive: true, force: true })
      return { containersLeft: left.length, foldersLeft: folders.length }
    },
  }
}

async function measure(ctx: BenchContext, spec: RowSpec, sandbox: Sandbox, baseline: ScenarioResult | undefined): Promise<ScenarioResult> {
  const { outputSubject } = ctx.fixtures
  // a slow sandbox gets twice the end-to-end cap before the row stops and says so
  const capMs = 2 * ctx.sizes.e2eCapSeconds * 1000
  let loading: Promise<PluginInstance> | undefined
  let crossing: ReturnType<typeof countingInstance> | undefined
  let loaded: PluginInstance | undefined
  // compiled off the clock; the stage takes the instance that load() below resolves
  const pipeline = pluginPipeline(ctx, () => loading ?? Promise.reject(new Error('the plugin is not loaded yet')))
  await freshPipelineTopology(ctx)
  let cleanup: Readonly<Record<string, unknown>> | undefined
  let w: BenchWorker | undefined
  let workerClosed = false
  try {
    const filled = await prePublish(ctx, `${ctx.runId}-plg-${spec.runtime}`, ctx.sizes.events, `plugins ${spec.runtime}: pre-publishing`)
    const { expected } = filled
    const bar = ctx.progress(`plugins ${spec.runtime}: pipeline`, expected)
    const cpu = startCpuMeter(ctx.serverPid)

    // the clock: load the plugin (a child process or a container starts here), then the worker
    const started = performance.now()
    loading = sandbox.runtime.load(sandbox.code).then((inner) => {
      loaded = inner
      crossing = countingInstance(inner)
      return crossing.instance
    })
    await loading
    const loadedAt = performance.now()
    w = await startBenchWorker(ctx, spec.id, undefined, pipeline)
    const workerAt = performance.now()
    const worker = w
    const ticker = setInterval(() => bar.update(worker.acked), 200)
    let settledAt: number | undefined
    let outputs = 0
    let acked = 0
    let finishedAt: number
    try {
      settledAt = await w.ackedAtLeast(expected, capMs)
      finishedAt = settledAt ?? performance.now()
      acked = w.acked
      outputs = await storedOn(ctx, outputSubject)
      if (settledAt !== undefined && outputs < expected) {
        const until = performance.now() + 5000
        while (outputs < expected && performance.now() < until) {
          await sleep(20)
          outputs = await storedOn(ctx, outputSubject)
        }
        finishedAt = performance.now()
      }
    } finally {
      clearInterval(ticker)
      bar.update(w.acked)
      bar.stop()
    }
    const cpuShare = cpu.stop()
    const firstAckAt = w.firstAckAt
    const stats = w.worker.stats()
    const failures = w.failures
    // off the clock: the sandbox's own process (the isolate host, the container's runner) was
    // started inside the measured window, so its lifetime CPU is what the window cost it
    const seconds = (finishedAt - started) / 1000
    const pid = loaded ? await sandbox.sandboxPid(loaded) : undefined
    const sandboxCpu = processCpuSeconds(pid)
    const sample = await sampleOutput(ctx)
    workerClosed = true
    await w.close()
    cleanup = await sandbox.close()

    const rate = acked / seconds
    const firstEventMs = firstAckAt === undefined ? undefined : firstAckAt - started
    const crossed: CrossingStats | undefined = crossing?.stats()
    const consume = bestRow(ctx, 'consume-ceiling')
    const e2e = ctx.results.get('pipeline-e2e')
    const ratio = baseline && baseline.rate > 0 ? rate / baseline.rate : undefined
    const targets = [
      spec.minRatio === undefined ? '' : ratio === undefined ? `target ≥ ${spec.minRatio}× in-process: no in-process row to compare` : `target ≥ ${spec.minRatio}× in-process ${ratio >= spec.minRatio ? 'met' : 'NOT met'}`,
      spec.firstEventMs === undefined || firstEventMs === undefined
        ? ''
        : `first event ${Math.round(firstEventMs)} ms (target ≤ ${spec.firstEventMs / 1000} s ${firstEventMs <= spec.firstEventMs ? 'met' : 'NOT met'})`,
    ]
    const problems = [
      settledAt === undefined ? `STOPPED at the ${capMs / 1000} s cap: ${acked} of ${expected} settled` : '',
      settledAt !== undefined && outputs < expected ? `only ${outputs} of ${expected} outputs stored` : '',
      failures > 0 ? `${failures} retried/dead-lettered` : '',
      sample !== undefined && !sample.upper ? 'the output text is NOT upper-cased' : '',
      Object.values(cleanup ?? {}).some((v) => v === true || (typeof v === 'number' && v > 0)) ? `left behind and removed: ${JSON.stringify(cleanup)}` : '',
    ]
    return {
      id: spec.id,
      scenario: 'plugins',
      title: spec.title,
      events: acked,
      seconds: round(seconds, 3),
      rate: Math.round(rate),
      ...(ratio !== undefined
        ? { ratio: round(ratio), ratioTo: BASELINE_TITLE }
        : spec.runtime === 'inprocess' && consume
          ? { ratio: round(rate / consume.rate), ratioTo: 'consume' }
          : {}),
      notes: [
        spec.runtime === 'inprocess' ? `1 plugin stage + 1 output; first event ${firstEventMs === undefined ? '–' : `${Math.round(firstEventMs)} ms`}` : '',
        ...targets,
        crossed ? `${crossed.batch.mean} events/call` : '',
        `CPU bench ${cpuShare.bench}${sandboxCpu === undefined ? '' : `, sandbox ${round(sandboxCpu / seconds)}`}${cpuShare.server === undefined ? '' : `, server ${cpuShare.server}`} core`,
        spec.runtime === 'inprocess' ? 'plugin code built in memory: signing/verification cost only at load' : '',
        ...problems,
      ]
        .filter(Boolean)
        .join('; '),
      details: {
        runtime: spec.runtime,
        plugin: { id: sandbox.code.id, limits: BENCH_PLUGIN_LIMITS, signed: false, why: 'signature checks run once at load, never per event' },
        ...sandbox.prepared,
        ...(baseline ? { ratioToRow: baseline.id } : {}),
        ...(consume ? { ratioToConsume: round(rate / consume.rate), consumeRow: consume.id } : {}),
        ...(e2e && e2e.rate > 0 ? { ratioToPipelineE2e: round(rate / e2e.rate) } : {}),
        targets: {
          ...(spec.minRatio !== undefined ? { minRatio: spec.minRatio, ratioMet: ratio === undefined ? null : ratio >= spec.minRatio } : {}),
          ...(spec.firstEventMs !== undefined ? { firstEventMs: spec.firstEventMs, firstEventMet: firstEventMs === undefined ? null : firstEventMs <= spec.firstEventMs } : {}),
        },
        timingsMs: {
          load: round(loadedAt - started, 1),
          workerStart: round(workerAt - loadedAt, 1),
          ...(firstEventMs !== undefined ? { firstEvent: round(firstEventMs, 1) } : {}),
        },
        ...(crossed ? { crossing: crossed } : {}),
        expected,
        completed: settledAt !== undefined,
        outputsStored: outputs,
        ...(sample ? { outputSample: sample } : {}),
        inputBytes: filled.bytes,
        prePublishSeconds: round(filled.seconds, 3),
        workerStats: stats,
        failures,
        cpu: { ...cpuShare, ...(sandboxCpu !== undefined ? { sandbox: round(sandboxCpu / seconds), sandboxPid: pid } : {}) },
        ...(cleanup ? { cleanup } : {}),
      },
    }
  } finally {
    // on a failure above, the worker and the sandbox may still run
    if (w && !workerClosed) await w.close().catch(() => undefined)
    if (!cleanup) await sandbox.close().catch(() => undefined)
    await cleanPipelineTopology(ctx)
  }
}

/** The last output's text: the plugin really ran (and upper-cased) in this runtime. */
async function sampleOutput(ctx: BenchContext): Promise<{ readonly text: string; readonly upper: boolean } | undefined> {
  try {
    const m = await ctx.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: ctx.fixtures.outputSubject })
    const text = (m?.json<{ data?: { text?: unknown } }>().data?.text ?? '') as string
    return { text: String(text).slice(0, 40), upper: typeof text === 'string' && text.length > 0 && text === text.toUpperCase() }
  } catch {
    return undefined
  }
}

/** The container row when no engine answers: no numbers, the reason instead. */
function skipped(spec: RowSpec, reason: string, socket: string | undefined): ScenarioResult {
  return {
    id: spec.id,
    scenario: 'plugins',
    title: spec.title,
    events: 0,
    seconds: 0,
    rate: 0,
    notes: `skipped: ${reason}`,
    details: { runtime: spec.runtime, skipped: true, reason, ...(socket ? { socket } : {}) },
  }
}

export const plugins: Scenario = {
  id: 'plugins',
  title: 'one plugin stage per sandbox runtime (inprocess, isolate, container)',
  async run(ctx) {
    const rows: ScenarioResult[] = []
    // the sandboxes are compared with the in-process row of this run
    let baseline: ScenarioResult | undefined
    for (const spec of ROWS) {
      let row: ScenarioResult
      if (spec.runtime === 'container') {
        const socket = dockerSocketOf(ctx)
        const engine = await probeDocker(socket)
        if ('skip' in engine) {
          ctx.log(`  container row skipped: ${engine.skip}`)
          row = skipped(spec, engine.skip, socket)
        } else {
          try {
            row = await measure(ctx, spec, await containerSandbox(ctx, engine), baseline)
          } finally {
            engine.close()
          }
        }
      } else {
        row = await measure(ctx, spec, spec.runtime === 'isolate' ? isolateSandbox() : inprocessSandbox(), baseline)
      }
      if (spec.runtime === 'inprocess') baseline = row
      rows.push(row)
    }
    return rows
  },
}
