import { Transform } from 'node:stream'
import type Docker from 'dockerode'
import { type TarEntry, tarStream } from './tar.ts'

/** What building an image from a rootfs is doing, for a progress display. */
export type RootfsImageProgress =
  | { readonly type: 'hashing'; readonly files: number }
  | { readonly type: 'reused'; readonly id: string }
  | { readonly type: 'importing'; readonly bytes: number; readonly totalBytes: number }
  | { readonly type: 'built'; readonly id: string }

export interface ImportRootfsOptions {
  readonly repo: string
  readonly tag: string
  /** Dockerfile-style instructions `docker import --change` accepts: USER, ENTRYPOINT, CMD, ENV, WORKDIR, EXPOSE, LABEL */
  readonly changes: readonly string[]
  readonly onProgress?: (progress: RootfsImageProgress) => void
}

/** The image labelled `label=value` in the engine, if any. */
export async function findImageByLabel(docker: Docker, label: string, value: string): Promise<string | undefined> {
  const found = await docker.listImages({ filters: { label: [`${label}=${value}`] } })
  return found.find((image) => image.Labels?.[label] === value)?.Id
}

/** The bytes `tarStream(entries)` will produce, to show the import's progress against. */
export function tarSize(entries: readonly TarEntry[]): number {
  return entries.reduce((sum, e) => sum + 512 + (e.type === 'file' ? Math.ceil(e.size / 512) * 512 : 0), 1024)
}

/**
 * `docker import` of a tarball streamed from `entries` (never written to disk), with progress
 * every 8 MiB. Resolves the new image's id; throws with the engine's own message when it refuses.
 */
export async function importRootfs(docker: Docker, entries: readonly TarEntry[], opts: ImportRootfsOptions): Promise<string> {
  const progress = opts.onProgress ?? (() => {})
  const totalBytes = tarSize(entries)
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
  const stream = await docker.importImage(tar.pipe(counter), { repo: opts.repo, tag: opts.tag, changes: [...opts.changes] })
  const events = await new Promise<Array<{ status?: string; error?: string }>>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, out: Array<{ status?: string; error?: string }>) => (err ? reject(err) : resolve(out)))
  })
  const failed = events.find((e) => e.error)
  if (failed) throw new Error(`docker import of ${opts.repo}:${opts.tag} failed: ${failed.error}`)
  const id = events.map((e) => e.status ?? '').find((s) => /^sha256:[0-9a-f]{64}$/.test(s))
  if (!id) throw new Error(`docker import of ${opts.repo}:${opts.tag} gave no image id`)
  progress({ type: 'built', id })
  return id
}
