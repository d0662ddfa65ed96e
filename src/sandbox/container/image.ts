import { stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type Docker from 'dockerode'
import { omniError } from '../../errors/mod.ts'
import { contentHash, findImageByLabel, importRootfs, type RootfsImageProgress, sharedLibraries, type TarEntry } from '../../rootfs/mod.ts'
import { NODE_PATH, RUNNER_PATH } from './settings.ts'

/** The name of the runner image; the digest after `@` is what plugins pin. */
export const RUNNER_IMAGE_NAME = 'omni-plugin-node'
/** Label holding a hash of everything put into the image, to find a build to reuse. */
export const RUNNER_CONTENT_LABEL = 'omni.fabric.runner-content'

// bump when the rootfs layout changes in a way the file contents do not show
const LAYOUT_VERSION = 'omni-runner-rootfs/1'

/** An image in the local engine, by id (`sha256:…`) and as a reference by digest. */
export interface RunnerImage {
  readonly id: string
  readonly ref: string
}

/** What building the runner image is doing, for a progress display. */
export type RunnerImageProgress = RootfsImageProgress

export interface BuildRunnerImageOptions {
  /** the Node binary to put in the image (default: the one running this process) */
  readonly nodePath?: string
  readonly onProgress?: (progress: RunnerImageProgress) => void
}

const RUNNER_SOURCE = fileURLToPath(new URL('./runner/runner.cjs', import.meta.url))

/**
 * Builds `omni-plugin-node` with `docker import` from a rootfs made here: the Node binary, the
 * libraries `ldd` lists for it, the runner script and msgpackr's no-eval build, `/tmp` 1777.
 * No registry is needed. An image with the same content label is reused (importing ~130 MB
 * takes seconds).
 */
export async function buildRunnerImage(docker: Docker, opts: BuildRunnerImageOptions = {}): Promise<RunnerImage> {
  const progress = opts.onProgress ?? (() => {})
  try {
    const entries = await rootfsEntries(opts.nodePath ?? process.execPath)
    progress({ type: 'hashing', files: entries.length })
    const content = await contentHash(LAYOUT_VERSION, entries)
    const existing = await findImageByLabel(docker, RUNNER_CONTENT_LABEL, content)
    if (existing) {
      progress({ type: 'reused', id: existing })
      return asRunnerImage(existing)
    }
    const id = await importRootfs(docker, entries, {
      repo: RUNNER_IMAGE_NAME,
      tag: content.slice(0, 16),
      changes: [`LABEL ${RUNNER_CONTENT_LABEL}=${content}`, 'USER 65534:65534', `CMD ["${NODE_PATH}", "${RUNNER_PATH}"]`],
      onProgress: progress,
    })
    return asRunnerImage(id)
  } catch (err) {
    throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `building the runner image failed: ${(err as Error).message}`, { cause: err })
  }
}

function asRunnerImage(id: string): RunnerImage {
  return { id, ref: `${RUNNER_IMAGE_NAME}@${id}` }
}

/** Everything the rootfs holds, files by host path (read while streaming, never all in memory). */
async function rootfsEntries(nodePath: string): Promise<TarEntry[]> {
  const libs = await sharedLibraries(nodePath)
  const msgpackr = join(dirname(createRequire(import.meta.url).resolve('msgpackr')), 'index-no-eval.cjs')
  const files: Array<{ path: string; from: string; mode: number }> = [
    { path: NODE_PATH, from: nodePath, mode: 0o555 },
    { path: RUNNER_PATH, from: RUNNER_SOURCE, mode: 0o444 },
    { path: join(dirname(RUNNER_PATH), 'msgpackr.cjs'), from: msgpackr, mode: 0o444 },
    ...libs.map((lib) => ({ path: lib, from: lib, mode: 0o555 })),
  ]
  const dirs = new Map<string, number>([
    ['tmp', 0o1777],
    ['plugin', 0o555],
    ['run', 0o755],
    ['run/omni', 0o755],
    ['proc', 0o555],
    ['dev', 0o755],
    ['sys', 0o555],
    ['etc', 0o755],
  ])
  for (const f of files) {
    for (let d = dirname(f.path); d !== '/' && d !== '.'; d = dirname(d)) if (!dirs.has(d.slice(1))) dirs.set(d.slice(1), 0o755)
  }
  const entries: TarEntry[] = [...dirs].sort(([a], [b]) => a.localeCompare(b)).map(([path, mode]) => ({ type: 'dir', path, mode }))
  for (const f of files) entries.push({ type: 'file', path: f.path.slice(1), mode: f.mode, size: (await stat(f.from)).size, from: f.from })
  // an empty passwd/group: uid 65534 needs no name, and none of the host's accounts leak in
  entries.push({ type: 'file', path: 'etc/passwd', mode: 0o444, size: 0, from: Buffer.alloc(0) })
  entries.push({ type: 'file', path: 'etc/group', mode: 0o444, size: 0, from: Buffer.alloc(0) })
  return entries
}
