import { readdir, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { createCatalog, type CatalogEntry, type EventCatalog } from '../catalog/catalog.ts'
import { compileCatalogManifest } from '../catalog/compile.ts'
import { isOmniError, omniError, type Problem } from '../errors/mod.ts'
import { compileMeshDocument } from '../mesh/manifest.ts'
import { compilePipeline, type CompiledPipeline } from '../pipeline/compile.ts'
import { meshSourceTypeProblems } from '../pipeline/mesh-source.ts'
import type { PipelineManifest } from '../pipeline/spec.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import { problemAt } from '../yaml/check.ts'
import { readYamlManifest, type YamlManifest } from '../yaml/yaml.ts'
import { compileWebhookSource, type WebhookSource } from '../webhooks/source.ts'
import { fanoutOncePerType, outputsSharingIds, pipelineLoops, type LoadedPipeline } from './pipeline-graph.ts'

/** Everything loaded from a manifests folder (or a single file). */
export interface LoadedManifests {
  readonly files: readonly string[]
  readonly catalog: EventCatalog
  readonly pipelines: readonly CompiledPipeline[]
  /** `kind: WebhookSource` manifests: the providers /v1/webhooks/:provider/:instance accepts */
  readonly webhooks: readonly WebhookSource[]
  readonly problems: readonly Problem[]
}

const KINDS = ['EventCatalog', 'Mesh', 'Pipeline', 'Plugin', 'WebhookSource'] as const

/** Lists the YAML files under a path (a file is returned as is), sorted for stable output. */
export async function listManifestFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch((cause: unknown) => {
    throw omniError('OMNI_ERR_MANIFEST', `cannot read ${path}: ${(cause as Error).message}`, { cause })
  })
  if (info.isFile()) return [path]
  const out: string[] = []
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.ya?ml$/.test(entry.name)) out.push(join(entry.parentPath, entry.name))
  }
  return out.sort()
}

/**
 * Loads and validates every manifest: YAML syntax, each kind's schema and rules, and the rules
 * that span files (duplicate pipeline names or event types, catalog fan-out in two pipelines,
 * outputs sharing a message id, loops between pipelines; see pipeline-graph.ts). Problems are collected, not thrown,
 * so `omni validate` can print all of them at once. `extra` are documents parsed elsewhere (a
 * pipeline submitted to the API), checked together with the files as if they were among them.
 */
export async function loadManifests(paths: string | readonly string[], lookup: CartridgeLookup, extra: readonly YamlManifest[] = []): Promise<LoadedManifests> {
  const files = (await Promise.all((typeof paths === 'string' ? [paths] : paths).map(listManifestFiles))).flat()
  const problems: Problem[] = []
  const parsed: YamlManifest[] = []
  for (const file of files) {
    try {
      parsed.push(await readYamlManifest(display(file)))
    } catch (err) {
      if (isOmniError(err) && err.problems.length > 0) problems.push(...err.problems)
      else problems.push({ where: display(file), message: err instanceof Error ? err.message : String(err) })
    }
  }
  parsed.push(...extra)

  const entries: CatalogEntry[] = []
  const pipelineManifests: YamlManifest[] = []
  const sourceManifests: YamlManifest[] = []
  for (const m of parsed) {
    const kind = (m.value as { kind?: unknown } | null)?.kind
    if (kind === 'EventCatalog') {
      const result = compileCatalogManifest(m, lookup)
      problems.push(...result.problems)
      for (const e of result.entries) {
        const prior = entries.find((x) => x.type === e.type)
        if (prior) problems.push({ where: e.declaredAt, message: `event type "${e.type}" is already declared at ${prior.declaredAt}` })
        else entries.push(e)
      }
    } else if (kind === 'Pipeline') {
      pipelineManifests.push(m)
    } else if (kind === 'WebhookSource') {
      sourceManifests.push(m)
    } else if (kind === 'Plugin') {
      // a plugin's source manifest: it takes effect only signed and installed, and `omni plugin
      // verify` checks it; pipelines use installed plugins as `plugin:<id>`
    } else if (kind === 'Mesh') {
      // checked like `omni up --mesh` checks it, credential files included; it joins nothing
      // from here: only `omni up --mesh FILE` (or its flags) puts a node on the mesh
      const result = await compileMeshDocument(m, dirname(resolve(m.file)))
      if (result.type === 'error') problems.push(...result.problems)
    } else {
      problems.push(problemAt(m, kind === undefined ? [] : ['kind'], `unknown kind ${JSON.stringify(kind ?? null)}; expected one of ${KINDS.join(', ')}`))
    }
  }

  const pipelines: CompiledPipeline[] = []
  const located: LoadedPipeline[] = []
  for (const m of pipelineManifests) {
    const result = compilePipeline(m, lookup)
    if (result.type === 'error') {
      problems.push(...result.problems)
      continue
    }
    const prior = pipelines.find((p) => p.name === result.pipeline.name)
    if (prior) problems.push(problemAt(m, ['name'], `pipeline name "${result.pipeline.name}" is already used by ${prior.file}`))
    else {
      pipelines.push(result.pipeline)
      located.push({ manifest: m, pipeline: result.pipeline })
    }
  }
  // after the catalog: a source's mapping names catalog types
  const catalog = createCatalog(entries)
  // what pipelines publish against what they consume, with the catalog's fan-out targets
  for (const { manifest } of located) problems.push(...meshSourceTypeProblems(manifest, (manifest.value as PipelineManifest).sources, (type) => catalog.get(type) !== undefined))
  problems.push(...fanoutOncePerType(located, catalog), ...outputsSharingIds(located, catalog), ...pipelineLoops(located, catalog, lookup))
  const webhooks: WebhookSource[] = []
  for (const m of sourceManifests) {
    const result = compileWebhookSource(m, catalog)
    problems.push(...result.problems)
    if (!result.source) continue
    const prior = webhooks.find((w) => w.name === result.source?.name)
    if (prior) problems.push(problemAt(m, ['name'], `webhook source "${prior.name}" is already declared at ${prior.declaredAt}`))
    else webhooks.push(result.source)
  }
  return { files: files.map(display), catalog, pipelines, webhooks, problems }
}

/** Loads manifests and throws one OMNI_ERR_MANIFEST listing every problem, if there is any. */
export async function loadManifestsOrThrow(paths: string | readonly string[], lookup: CartridgeLookup): Promise<LoadedManifests> {
  const loaded = await loadManifests(paths, lookup)
  if (loaded.problems.length > 0) {
    throw omniError('OMNI_ERR_MANIFEST', `${loaded.problems.length} problem(s) in the manifests`, { problems: loaded.problems })
  }
  return loaded
}

function display(file: string): string {
  const rel = relative(process.cwd(), file)
  return rel.startsWith('..') ? file : rel
}
