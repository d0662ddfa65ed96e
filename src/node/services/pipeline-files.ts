import { randomUUID } from 'node:crypto'
import { lstat, readFile, realpath, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { isOmniError, omniError, type Problem } from '../../errors/mod.ts'
import { problemAt } from '../../yaml/check.ts'
import { listManifestFiles, loadManifests } from '../../manifests/load.ts'
import { parseYamlManifest, type YamlManifest } from '../../yaml/yaml.ts'
import type { CompiledPipeline } from '../../pipeline/compile.ts'
import { PIPELINE_NAME_PATTERN } from '../../pipeline/spec.ts'
import { writeAtomically } from '../../util/atomic-write.ts'
import type { CartridgeLookup } from '../../pipeline/stage-builder.ts'

/** Positions in a submitted document read `body:line:col`. */
export const BODY_FILE = 'body'

const PIPELINE_NAME_RE = new RegExp(PIPELINE_NAME_PATTERN)

export type ReloadResult =
  | { readonly type: 'reloaded'; readonly added: string[]; readonly changed: string[]; readonly removed: string[] }
  | { readonly type: 'rejected'; readonly problems: readonly Problem[] }

export type Applied = Extract<ReloadResult, { type: 'reloaded' }> & { readonly file: string }

/** What the files need of the node: where the manifests are, what runs, and a reload. */
export interface PipelineFilesDeps {
  /** the manifests folder: pipelines applied here are written under `<manifests>/pipelines/` */
  readonly manifests: string
  /** the cartridges and plugins a pipeline may use, as a reload validates against */
  readonly lookup: CartridgeLookup
  readonly running: () => readonly CompiledPipeline[]
  /** reloads the node from the files; the caller already holds the node's pipeline lock */
  readonly reload: () => Promise<ReloadResult>
}

/** Validates, applies and removes pipelines in the manifests folder, the way `omni validate` and a reload see them. */
export interface PipelineStore {
  /** The same checks as `omni validate`, with the document in place of the file it would replace; nothing is written. */
  validate(text: string, contentType: string | undefined): Promise<{ ok: boolean; problems: Problem[] }>
  /** Writes the pipeline (atomically) and reloads; a refused reload puts the previous file back. */
  apply(name: string, text: string, contentType: string | undefined): Promise<Applied>
  /** Removes the pipeline's file and reloads; a refused reload puts the file back. */
  remove(name: string): Promise<Applied>
  /** The path of a pipeline's file as clients see it: relative to the manifests folder when inside it. */
  display(file: string): string
}

/** The pipeline files of a manifests folder; the caller runs one change at a time. */
export function createPipelineFiles(deps: PipelineFilesDeps): PipelineStore {
  return new PipelineStoreImpl(deps)
}

interface Plan {
  /** absolute path the pipeline is (or will be) written to */
  readonly target: string
  /** what the target held before, to put back if the reload is refused */
  readonly previous: string | undefined
}

class PipelineStoreImpl implements PipelineStore {
  readonly #deps: PipelineFilesDeps
  readonly #root: string

  constructor(deps: PipelineFilesDeps) {
    this.#deps = deps
    this.#root = resolve(deps.manifests)
  }

  display(file: string): string {
    const abs = resolve(file)
    return this.#inside(abs) ? relative(this.#root, abs) : file
  }

  async validate(text: string, contentType: string | undefined): Promise<{ ok: boolean; problems: Problem[] }> {
    let manifest: YamlManifest
    try {
      manifest = parseBody(text, contentType)
    } catch (err) {
      if (isOmniError(err)) return { ok: false, problems: [...err.problems] }
      throw err
    }
    const name = pipelineName(manifest)
    let target: string | undefined
    // a name the schema refuses is reported by the checks; it never becomes a path
    if (name !== undefined && PIPELINE_NAME_RE.test(name)) {
      try {
        target = (await this.#plan(name)).target
      } catch (err) {
        if (!isOmniError(err) || err.code !== 'OMNI_ERR_CONFLICT') throw err
        return { ok: false, problems: [problemAt(manifest, ['name'], err.message)] }
      }
    }
    const problems = await this.#check(manifest, target)
    return { ok: problems.length === 0, problems }
  }

  async apply(name: string, text: string, contentType: string | undefined): Promise<Applied> {
    if (!PIPELINE_NAME_RE.test(name)) throw omniError('OMNI_ERR_BODY_INVALID', `"${name}" is not a pipeline name (${PIPELINE_NAME_PATTERN})`)
    const manifest = parseBody(text, contentType)
    const plan = await this.#plan(name)
    const problems = await this.#check(manifest, plan.target)
    const bodyName = pipelineName(manifest)
    if (bodyName !== undefined && bodyName !== name) problems.unshift(problemAt(manifest, ['name'], `is "${bodyName}" but the URL names "${name}"; they must match`))
    if (problems.length > 0) throw omniError('OMNI_ERR_MANIFEST', `pipeline "${name}" has ${problems.length} problem(s); nothing was applied`, { problems })
    await writeAtomically(plan.target, text)
    return this.#reload(plan.target, () => (plan.previous === undefined ? unlink(plan.target) : writeAtomically(plan.target, plan.previous)))
  }

  async remove(name: string): Promise<Applied> {
    if (!this.#running(name)) throw omniError('OMNI_ERR_NOT_FOUND', `no pipeline "${name}" is loaded`)
    const { target } = await this.#plan(name)
    // moved aside rather than deleted, so a refused reload can put it back as it was
    const aside = join(dirname(target), `.${basename(target)}.${randomUUID()}.removed`)
    await rename(target, aside)
    const result = await this.#reload(target, () => rename(aside, target))
    await unlink(aside).catch(() => undefined)
    return result
  }

  /** Checks `manifest` with every manifest file except `replaces`, the one it would be written to. */
  async #check(manifest: YamlManifest, replaces: string | undefined): Promise<Problem[]> {
    const value = manifest.value as { kind?: unknown } | null
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [{ where: manifest.locate([]), message: 'the body must be a pipeline manifest (a mapping with kind: Pipeline)' }]
    if (value.kind !== 'Pipeline') return [problemAt(manifest, value.kind === undefined ? [] : ['kind'], 'must be "Pipeline"; this route takes pipelines only')]
    const files = (await listManifestFiles(this.#deps.manifests)).filter((f) => resolve(f) !== replaces)
    const loaded = await loadManifests(files, this.#deps.lookup, [manifest])
    return [...loaded.problems]
  }

  /**
   * Where pipeline `name` is written: the file it is loaded from, or `<manifests>/pipelines/<name>.yaml`
   * for a new one. A file outside the folder, or one that holds anything but this pipeline, is
   * never replaced.
   */
  async #plan(name: string): Promise<Plan> {
    if (!(await stat(this.#root).then((s) => s.isDirectory(), () => false))) {
      throw omniError('OMNI_ERR_CONFLICT', `the manifests path ${this.#deps.manifests} is not a folder; the API changes pipelines only in a manifests folder`)
    }
    const running = this.#running(name)
    const target = running ? resolve(running.file) : join(this.#root, 'pipelines', `${name}.yaml`)
    if (!this.#inside(target)) throw omniError('OMNI_ERR_CONFLICT', `pipeline "${name}" is loaded from ${running?.file}, outside the manifests folder ${this.#deps.manifests}; change it there`)
    // the text of the path is not enough: a symbolic link on the way (a linked pipelines/ folder)
    // would send the write elsewhere, so the folder it really lands in must be inside too
    const realRoot = await realpath(this.#root)
    const realFolder = await realFolderOf(dirname(target))
    if (realFolder === undefined || !isWithin(realRoot, realFolder)) {
      throw omniError('OMNI_ERR_CONFLICT', `${this.display(dirname(target))} leads outside the manifests folder ${this.#deps.manifests} (a symbolic link?); the API writes pipelines only inside it`)
    }
    if ((await lstat(target).catch(() => undefined))?.isSymbolicLink()) {
      throw omniError('OMNI_ERR_CONFLICT', `${this.display(target)} is a symbolic link; the API replaces only plain files, change it where it points`)
    }
    const previous = await readFile(target, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (previous !== undefined) {
      const held = describeFile(previous)
      if (held !== `pipeline ${name}`) throw omniError('OMNI_ERR_CONFLICT', `${this.display(target)} holds ${held}, not only pipeline "${name}"; edit that file instead`)
    }
    return { target, previous }
  }

  async #reload(target: string, restore: () => Promise<void>): Promise<Applied> {
    let result: ReloadResult
    try {
      result = await this.#deps.reload()
    } catch (cause) {
      await restore()
      throw omniError('OMNI_ERR_UNAVAILABLE', `the node cannot reload now (${(cause as Error).message}); the file is back as it was`, { cause })
    }
    if (result.type === 'rejected') {
      await restore()
      throw omniError('OMNI_ERR_MANIFEST', 'the node refused the new set of manifests; the file is back as it was and the running pipelines are unchanged', { problems: result.problems })
    }
    return { ...result, file: this.display(target) }
  }

  #running(name: string): CompiledPipeline | undefined {
    return this.#deps.running().find((p) => p.name === name)
  }

  #inside(abs: string): boolean {
    return abs !== this.#root && isWithin(this.#root, abs)
  }
}

/** True when `path` is `root` or below it (both absolute). */
function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel))
}

/**
 * The real path of folder `dir` with every symbolic link resolved; a part that does not exist yet
 * (a pipelines/ folder the first write creates) is joined to the real path of what does. Undefined
 * when a link on the way dangles: mkdir would follow it somewhere unknown.
 */
async function realFolderOf(dir: string): Promise<string | undefined> {
  try {
    return await realpath(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (await lstat(dir).then(() => true, () => false)) return undefined
  const parent = dirname(dir)
  if (parent === dir) return undefined
  const real = await realFolderOf(parent)
  return real === undefined ? undefined : join(real, basename(dir))
}

/** Parses a submitted document: JSON (checked as JSON first) or YAML, positions as body:line:col. */
export function parseBody(text: string, contentType: string | undefined): YamlManifest {
  if (/^application\/json\b/i.test(contentType ?? '')) {
    try {
      JSON.parse(text)
    } catch (err) {
      const at = /\(line (\d+) column (\d+)\)/.exec((err as Error).message)
      const where = at ? `${BODY_FILE}:${at[1]}:${at[2]}` : BODY_FILE
      throw omniError('OMNI_ERR_BODY_INVALID', 'the body is not valid JSON', { problems: [{ where, message: (err as Error).message }] })
    }
  }
  // JSON is YAML too: one parser gives line:col for both
  return parseYamlManifest(BODY_FILE, text)
}

function pipelineName(manifest: YamlManifest): string | undefined {
  const name = (manifest.value as { name?: unknown } | null)?.name
  return typeof name === 'string' ? name : undefined
}

/** What a manifest file holds, in words: `pipeline <name>` when it is exactly one pipeline. */
function describeFile(text: string): string {
  const docs = parseAllDocuments(text)
  if (docs.length !== 1) return `${docs.length} documents`
  let value: { kind?: unknown; name?: unknown } | null
  try {
    value = docs[0]?.toJS() as typeof value
  } catch {
    return 'a document that is not valid YAML'
  }
  if (value?.kind === 'Pipeline' && typeof value.name === 'string') return `pipeline ${value.name}`
  return `a ${String(value?.kind ?? 'document without a kind')}${typeof value?.name === 'string' ? ` named ${value.name}` : ''}`
}
