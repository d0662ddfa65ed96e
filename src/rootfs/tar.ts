import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'

/** One entry of a rootfs tarball: a folder, or a file whose bytes come from a host file or memory. */
export type TarEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number; readonly owner?: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly size: number; readonly from: string | Buffer; readonly owner?: number }

const BLOCK = 512

/**
 * Streams a ustar archive of `entries`, owned by root (or the entry's `owner` uid and gid) with
 * mtime 0, so the same inputs give the same bytes. Only what a rootfs for `docker import` needs:
 * folders and regular files with paths that fit ustar's name and prefix fields (an app's
 * node_modules has paths over the 100 bytes of the name field alone).
 */
export function tarStream(entries: readonly TarEntry[]): Readable {
  return Readable.from(generate(entries), { objectMode: false })
}

async function* generate(entries: readonly TarEntry[]): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    yield header(entry)
    if (entry.type === 'dir') continue
    let written = 0
    if (Buffer.isBuffer(entry.from)) {
      written = entry.from.length
      yield entry.from
    } else {
      for await (const chunk of createReadStream(entry.from)) {
        written += (chunk as Buffer).length
        yield chunk as Buffer
      }
    }
    // a file that changed size since it was listed would corrupt every later entry
    if (written !== entry.size) throw new Error(`${entry.path}: expected ${entry.size} bytes, read ${written}`)
    const pad = (BLOCK - (written % BLOCK)) % BLOCK
    if (pad > 0) yield Buffer.alloc(pad)
  }
  yield Buffer.alloc(BLOCK * 2)
}

function header(entry: TarEntry): Buffer {
  const path = entry.type === 'dir' ? `${entry.path.replace(/\/$/, '')}/` : entry.path
  const [prefix, name] = splitPath(path)
  const h = Buffer.alloc(BLOCK)
  h.write(name, 0, 100, 'utf8')
  octal(h, 100, 8, entry.mode)
  octal(h, 108, 8, entry.owner ?? 0)
  octal(h, 116, 8, entry.owner ?? 0)
  octal(h, 124, 12, entry.type === 'file' ? entry.size : 0)
  octal(h, 136, 12, 0)
  h.write(entry.type === 'dir' ? '5' : '0', 156, 1, 'ascii')
  h.write('ustar\u000000', 257, 8, 'ascii')
  // names only for root: an image's other uids need no account on the host that lists the tar
  const owner = (entry.owner ?? 0) === 0 ? 'root' : ''
  h.write(owner, 265, 32, 'ascii')
  h.write(owner, 297, 32, 'ascii')
  h.write(prefix, 345, 155, 'utf8')
  // the checksum is computed with its own field taken as spaces
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const byte of h) sum += byte
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii')
  return h
}

/** ustar keeps a long path as a prefix (up to 155 bytes) and a name (under 100), cut at a slash. */
function splitPath(path: string): [string, string] {
  if (Buffer.byteLength(path) < 100) return ['', path]
  // a folder's trailing slash stays with its name
  for (let cut = path.lastIndexOf('/', path.length - 2); cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
    const prefix = path.slice(0, cut)
    const name = path.slice(cut + 1)
    if (Buffer.byteLength(name) >= 100) break
    if (Buffer.byteLength(prefix) <= 155) return [prefix, name]
  }
  throw new Error(`tar path too long: ${path}`)
}

function octal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'ascii')
}
