import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Transform } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { omniError } from '../../errors/mod.ts'
import { NODE_PATH, RUNNER_PATH } from './settings.ts'
import { type TarEntry, tarStream } from './tar.ts'

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
export type RunnerImageProgress =
  | { readonly type: 'hashing'; readonly files: number }
  | { readonly type: 'reused'; readonly id: string }
  | { readonly type: 'importing'; readonly bytes: number; readonly totalBytes: number }
  | { readonly type: 'built'; readonly id: string }

export interface BuildRunnerImageOptions {
  /** the Node binary to put in the image (default: the one running this process) */
  readonly nodePath?: string
  readonly onProgress?: (progress: RunnerImageProgress) => void
}

const RUNNER_SOURCE = fileURLToPath(new URL('./runner/runner.cjs', import.meta.url))
const exec = promisify(execFile)

/**
 * Builds `omni-plugin-node` with `docker import` from a rootfs made here: the Node binary, the
 * libraries `ldd` lists for it, the runner script and msgpackr's no-eval build, `/tmp` 1777.
 * No registry is needed. An image with the same content label is reused (importing ~130 MB
 * takes seconds).
 */
export async function buildRunnerImage(docker: Docker, opts: BuildRunnerImageOptions = {}): Promise<RunnerImage> {
  const progress = opts.onProgress ?? (() => {})
  const entries = await rootfsEntries(opts.nodePath ?? process.execPath)
  progress({ type: 'hashing', files: entries.length })
  const content = await contentHash(entries)
  const found = await docker.listImages({ filters: { label: [`${RUNNER_CONTENT_LABEL}=${content}`] } })
  const existing = found.find((image) => image.Labels?.[RUNNER_CONTENT_LABEL] === content)
  if (existing) {
    progress({ type: 'reused', id: existing.Id })
    return asRunnerImage(existing.Id)
  }
  const totalBytes = entries.reduce((sum, e) => sum + 512 + (e.type === 'file' ? Math.ceil(e.size / 512) * 512 : 0), 1024)
  let bytes = 0
  let last = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length
      if (bytes - last >= 8 * 1024 * 1024 || bytes === totalBytes) {
        last = bytes
        progress({ type: 'importing', bytes, totalBytes })
      }
      done(null, chunk)
    },
  })
  const tar = tarStream(entries)
  tar.on('error', (err) => counter.destroy(err))
  const stream = await docker.importImage(tar.pipe(counter), {
    repo: RUNNER_IMAGE_NAME,
    tag: content.slice(0, 16),
    changes: [`LABEL ${RUNNER_CONTENT_LABEL}=${content}`, 'USER 65534:65534', `CMD ["${NODE_PATH}", "${RUNNER_PATH}"]`],
  })
  const events = await new Promise<Array<{ status?: string; error?: string }>>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, out: Array<{ status?: string; error?: string }>) => (err ? reject(err) : resolve(out)))
  })
  const failed = events.find((e) => e.error)
  if (failed) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `importing the runner image failed: ${failed.error}`)
  const id = events.map((e) => e.status ?? '').find((s) => /^sha256:[0-9a-f]{64}$/.test(s))
  if (!id) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', 'importing the runner image gave no image id')
  progress({ type: 'built', id })
  return asRunnerImage(id)
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

/** The absolute paths `ldd` prints for a binary (the dynamic loader included). */
async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string
  try {
    ;({ stdout } = await exec('ldd', [binary]))
  } catch (err) {
    throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `cannot list the libraries of ${binary} with ldd`, { cause: err })
  }
  const libs = new Set<string>()
  for (const line of stdout.split('\n')) {
    if (line.includes('not found')) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `ldd ${binary}: ${line.trim()}`)
    const path = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1]
    if (path) libs.add(path)
  }
  return [...libs].sort()
}

async function contentHash(entries: readonly TarEntry[]): Promise<string> {
  const hash = createHash('sha256').update(LAYOUT_VERSION)
  for (const e of entries) {
    hash.update(`\n${e.type} ${e.path} ${e.mode.toString(8)}`)
    if (e.type === 'file') hash.update(` ${Buffer.isBuffer(e.from) ? sha256(e.from) : await sha256File(e.from)}`)
  }
  return hash.digest('hex')
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

async function sha256File(path: string): Promise<string> {
  // small files in one read; the Node binary streamed
  if ((await stat(path)).size < 1024 * 1024) return sha256(await readFile(path))
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
