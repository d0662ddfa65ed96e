import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { EventCatalog } from '../../catalog/catalog.ts'
import { stableHash } from '../../envelope/derive.ts'
import { omniError, type Problem } from '../../errors/mod.ts'
import { loadManifests, type LoadedManifests } from '../../manifests/load.ts'
import type { CompiledPipeline } from '../../pipeline/compile.ts'
import type { CartridgeLookup } from '../../pipeline/stage-builder.ts'
import { closeOnce } from '../../util/lifecycle.ts'
import { serialized } from '../../util/serial.ts'
import { createWebhookRegistry, type WebhookRegistry } from '../../webhooks/mod.ts'
import { parseYamlManifest } from '../../yaml/yaml.ts'
import type { NodeConfig } from '../config.ts'
import type { PluginHost } from '../plugin-host.ts'
import type { PipelineRunner } from '../runner.ts'
import type { StatusHub } from '../status.ts'
import type { PipelineDetailView, PipelineView } from './pipeline-contracts.ts'
import { createPipelineFiles, type Applied, type ReloadResult } from './pipeline-files.ts'

export type { Applied, ReloadResult } from './pipeline-files.ts'
export type { PipelineDetailView, PipelineView } from './pipeline-contracts.ts'

/** The pipelines a node runs: reading them, and every change, one at a time (API, CLI and the file watcher alike). */
export interface PipelineService {
  list(): PipelineView[]
  /** one pipeline, with its manifest file as it is on disk; OMNI_ERR_NOT_FOUND when none is loaded */
  get(name: string): Promise<PipelineDetailView>
  /** the same checks as `omni validate`, with the document in place of the pipeline of its name; nothing is written */
  validate(text: string, contentType: string | undefined): Promise<{ ok: boolean; problems: Problem[] }>
  /** writes the pipeline's file (atomically) and reloads; a refused reload puts the previous file back */
  apply(name: string, text: string, contentType: string | undefined): Promise<Applied>
  /** removes the pipeline's file and reloads; a refused reload puts it back */
  remove(name: string): Promise<Applied>
  /** re-reads the manifests; a set with problems is rejected and the running one kept */
  reload(): Promise<ReloadResult>
  /** the running set (compiled) */
  running(): readonly CompiledPipeline[]
  /** the webhook sources the manifests declare, replaced with them on reload */
  webhooks(): WebhookRegistry
  /** starts reloading on changes under the manifests folder, when the node watches */
  watch(): void
  /** stops watching and waits for a change in progress; idempotent */
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface PipelineServiceDeps {
  readonly config: NodeConfig
  readonly runner: PipelineRunner
  readonly host: PluginHost | undefined
  readonly lookup: CartridgeLookup
  readonly status: StatusHub
  readonly initial: LoadedManifests
  /** false while the node starts, drains or has failed: no reload then */
  readonly isRunning: () => boolean
  /** a new set runs: the catalog and the recorded running set follow it */
  readonly onApplied: (loaded: { readonly catalog: EventCatalog }) => Promise<void>
}

/** Editors write files in several steps; a reload waits for the burst to settle. */
/** How long the watcher lets a burst of file changes settle before it reloads. */
export const WATCH_SETTLE_MS = 250

export function createPipelineService(deps: PipelineServiceDeps): PipelineService {
  const { config, runner, status } = deps
  const { logger } = config
  // one lock for every change: a request's restore can never undo another's write, and a burst
  // of file events never applies two sets at once
  const exclusive = serialized()
  let webhooks = createWebhookRegistry(deps.initial.webhooks)
  let watcher: FSWatcher | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let pending: Promise<unknown> = Promise.resolve()

  const reloadHeld = async (): Promise<ReloadResult> => {
    if (!deps.isRunning()) throw omniError('OMNI_ERR_CONFIG', 'cannot reload: the node is not running')
    await deps.host?.scan()
    const loaded = await loadManifests(config.manifests, deps.lookup)
    if (loaded.problems.length > 0) {
      logger.error({ problems: loaded.problems }, 'manifests changed but are invalid; keeping the running pipelines')
      status.emit({ type: 'reload-rejected', problems: loaded.problems })
      return { type: 'rejected', problems: loaded.problems }
    }
    let diff: Awaited<ReturnType<PipelineRunner['apply']>>
    try {
      diff = await runner.apply(loaded.pipelines)
    } catch (err) {
      const problem = { where: config.manifests, message: err instanceof Error ? err.message : String(err) }
      logger.error({ problems: [problem] }, 'pipelines could not be applied; keeping the running ones')
      status.emit({ type: 'reload-rejected', problems: [problem] })
      return { type: 'rejected', problems: [problem] }
    }
    webhooks = createWebhookRegistry(loaded.webhooks)
    await deps.onApplied(loaded)
    logger.info(diff, 'pipelines reloaded')
    status.emit({ type: 'reloaded', ...diff })
    return { type: 'reloaded', ...diff }
  }
  const files = createPipelineFiles({ manifests: config.manifests, lookup: deps.lookup, running: () => runner.pipelines(), reload: reloadHeld })
  const held = <T>(task: () => Promise<T>): Promise<T> => {
    const run = exclusive(task)
    pending = run.catch(() => undefined)
    return run
  }
  const find = (name: string): CompiledPipeline => {
    const p = runner.pipelines().find((x) => x.name === name)
    if (!p) throw omniError('OMNI_ERR_NOT_FOUND', `no pipeline "${name}" is loaded`)
    return p
  }
  const view = (p: CompiledPipeline): PipelineView => {
    const worker = runner.workers().find((w) => w.name === p.name)
    return {
      name: p.name,
      description: p.description,
      file: files.display(p.file),
      fingerprint: p.fingerprint,
      sources: [...p.sources],
      stages: p.levels.flatMap((level, i) =>
        level.map((s) => ({ id: s.id, uses: s.uses, needs: [...s.needs], level: i, conditional: s.when !== undefined, onError: s.onError, timeoutMs: s.timeoutMs, additive: s.additive })),
      ),
      outputs: p.outputs.map((o) => ({ ...(o.subject ? { subject: o.subject } : { fanout: 'catalog' as const }), conditional: o.when !== undefined, transforms: o.transforms.length })),
      errorPolicy: { maxDeliveries: p.maxDeliveries, backoffMs: [...p.backoffMs] },
      ...(worker ? { worker: { state: worker.state, ...worker.stats() } } : {}),
    }
  }

  return {
    list: () => runner.pipelines().map(view),
    async get(name) {
      const p = find(name)
      return { ...view(p), ...(await onDisk(p)) }
    },
    validate: (text, contentType) => files.validate(text, contentType),
    apply: (name, text, contentType) => held(() => files.apply(name, text, contentType)),
    remove: (name) => held(() => files.remove(name)),
    reload: () => held(reloadHeld),
    running: () => runner.pipelines(),
    webhooks: () => webhooks,
    watch() {
      if (!config.watch || watcher || closed) return
      watcher = watch(config.manifests, { recursive: true }, (_event, file) => {
        if (file && !/\.ya?ml$/.test(String(file))) return
        clearTimeout(timer)
        timer = setTimeout(() => {
          if (!deps.isRunning() || closed) return
          held(reloadHeld).catch((err: unknown) => logger.error({ err }, 'reload failed'))
        }, WATCH_SETTLE_MS)
        timer.unref()
      })
      // a folder that disappears or an exhausted inotify limit ends watching, not the process
      watcher.on('error', (err) => logger.error({ err }, 'stopped watching the manifests; restart to pick up changes'))
      watcher.unref()
    },
    ...closeOnce(async () => {
      closed = true
      watcher?.close()
      clearTimeout(timer)
      await pending
    }),
  }
}

/** The pipeline's file as it is now, and whether it still holds the running version. */
async function onDisk(p: CompiledPipeline): Promise<{ yaml?: string; yamlMatchesRunning?: boolean }> {
  const yaml = await readFile(p.file, 'utf8').catch(() => undefined)
  if (yaml === undefined) return {}
  let fingerprint: string | undefined
  try {
    // the same hash the compiler takes, so an edit that changes nothing but layout still matches
    fingerprint = stableHash(JSON.stringify(parseYamlManifest(p.file, yaml).value))
  } catch {
    fingerprint = undefined
  }
  return { yaml, yamlMatchesRunning: fingerprint === p.fingerprint }
}
