import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

/** The outcome of reading one file with a size cap; callers turn each case into their own error. */
export type ReadResult =
  | { readonly type: 'ok'; readonly bytes: Buffer }
  | { readonly type: 'missing' }
  | { readonly type: 'symlink' }
  | { readonly type: 'not-file' }
  | { readonly type: 'too-large'; readonly size: number }

export interface ReadCappedOptions {
  /** the largest file read; a larger one is `too-large` */
  readonly maxBytes: number
  /**
   * refuse a symbolic link in the open call itself (O_NOFOLLOW), so a link cannot be swapped in
   * between a check and the read
   */
  readonly noFollow: boolean
}

/**
 * Reads a regular file of at most `maxBytes`. The size is checked on the open descriptor before
 * reading, and again on what was read.
 */
export async function readCapped(file: string, { maxBytes, noFollow }: ReadCappedOptions): Promise<ReadResult> {
  // O_NONBLOCK keeps the open of a FIFO from hanging; it changes nothing for regular files
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0)
  let fh
  try {
    fh = await open(file, flags)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return { type: 'missing' }
    if (noFollow && (code === 'ELOOP' || code === 'EMLINK')) return { type: 'symlink' }
    throw err
  }
  try {
    const info = await fh.stat()
    if (!info.isFile()) return { type: 'not-file' }
    if (info.size > maxBytes) return { type: 'too-large', size: info.size }
    const bytes = await fh.readFile()
    if (bytes.byteLength > maxBytes) return { type: 'too-large', size: bytes.byteLength }
    return { type: 'ok', bytes }
  } finally {
    await fh.close()
  }
}
