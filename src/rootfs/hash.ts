import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import type { TarEntry } from './tar.ts'

/**
 * A hash of everything a rootfs holds (paths, modes, owners and file contents) under a layout
 * version, so an image built from the same inputs can be found by a label and reused.
 */
export async function contentHash(layoutVersion: string, entries: readonly TarEntry[]): Promise<string> {
  const hash = createHash('sha256').update(layoutVersion)
  for (const e of entries) {
    hash.update(`\n${e.type} ${e.path} ${e.mode.toString(8)}`)
    // only a non-root owner is hashed, so the runner image's existing label keeps its value
    if (e.owner) hash.update(` uid=${e.owner}`)
    if (e.type === 'file') hash.update(` ${Buffer.isBuffer(e.from) ? sha256(e.from) : await sha256File(e.from)}`)
  }
  return hash.digest('hex')
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

async function sha256File(path: string): Promise<string> {
  // small files in one read; big binaries streamed
  if ((await stat(path)).size < 1024 * 1024) return sha256(await readFile(path))
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
