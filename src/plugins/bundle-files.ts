import { createHash } from 'node:crypto'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { omniError, type Problem } from '../errors/mod.ts'
import type { PluginFile } from './manifest-schema.ts'
import { RESERVED_FILES } from './paths.ts'
import { readCapped } from './read.ts'

/** Largest code file a bundle may hold (the manifest schema's cap on `size`). */
export const MAX_FILE_BYTES = 64 * 1024 * 1024
const MAX_ENTRIES = 4096

/** What a walk of a plugin folder found: its regular files, and why anything else is refused. */
interface Scan {
  readonly files: Set<string>
  /** paths of links (files or folders), each already reported */
  readonly links: string[]
  readonly problems: Problem[]
}

/**
 * Reads every file a signed manifest lists and checks the folder holds exactly those (plus the
 * envelope and plugin.yaml): no links anywhere, nothing extra, nothing missing, each file's size
 * and sha256 as signed. `signed` names the manifest (`id@version`) in the messages. Returns the
 * verified bytes; every problem is reported at once under OMNI_ERR_PLUGIN_MANIFEST.
 */
export async function readBundleFiles(dir: string, listed: readonly PluginFile[], signed: string): Promise<ReadonlyMap<string, Buffer>> {
  const scan = await scanBundle(dir)
  const names = new Set(listed.map((f) => f.path))
  for (const path of scan.files) {
    if (!names.has(path) && !RESERVED_FILES.has(path)) problem(scan, dir, path, `is not listed in entry.files of the signed manifest of ${signed} (an extra file)`)
  }
  const files = new Map<string, Buffer>()
  for (const f of listed) {
    const bytes = await readListed(scan, dir, f.path, `entry.files of the signed manifest of ${signed}`)
    if (!bytes) continue
    if (bytes.byteLength !== f.size) {
      problem(scan, dir, f.path, `has the wrong size for the signed manifest of ${signed}: expected ${f.size} bytes, found ${bytes.byteLength}`)
      continue
    }
    const sha256 = sha256Hex(bytes)
    if (sha256 !== f.sha256) {
      problem(scan, dir, f.path, `has the wrong sha256 for the signed manifest of ${signed}: expected ${f.sha256}, found ${sha256}; these are not the bytes that were signed`)
      continue
    }
    files.set(f.path, bytes)
  }
  fail(dir, scan.problems)
  return files
}

/** Size and sha256 of each path, for signing; refuses links, extra, missing and non-regular files. */
export async function hashBundleFiles(dir: string, paths: readonly string[]): Promise<PluginFile[]> {
  const scan = await scanBundle(dir)
  const names = new Set(paths)
  for (const path of scan.files) {
    if (!names.has(path) && !RESERVED_FILES.has(path)) problem(scan, dir, path, 'is not listed in entry.files (an extra file); list it or remove it, since verification refuses unlisted files')
  }
  const out: PluginFile[] = []
  for (const path of paths) {
    const bytes = await readListed(scan, dir, path, 'entry.files of plugin.yaml')
    if (bytes) out.push({ path, size: bytes.byteLength, sha256: sha256Hex(bytes) })
  }
  fail(dir, scan.problems)
  return out
}

/** Lowercase hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function readListed(scan: Scan, dir: string, path: string, listedIn: string): Promise<Buffer | undefined> {
  // a listed link, or a path under a linked folder, is already reported by the scan
  if (scan.links.some((l) => path === l || path.startsWith(`${l}/`))) return undefined
  if (!scan.files.has(path)) {
    problem(scan, dir, path, `is missing: listed in ${listedIn} but not in the folder`)
    return undefined
  }
  const read = await readCapped(join(dir, path), { maxBytes: MAX_FILE_BYTES, noFollow: true })
  if (read.type === 'ok') return read.bytes
  const why = { missing: 'disappeared while being read', symlink: 'is a symbolic link; bundles may not contain links', 'not-file': 'is not a regular file', 'too-large': `is larger than ${MAX_FILE_BYTES} bytes` }
  problem(scan, dir, path, why[read.type])
  return undefined
}

/** Walks `dir` without following links (lstat semantics), so a link anywhere is found and refused. */
async function scanBundle(dir: string): Promise<Scan> {
  const scan: Scan = { files: new Set(), links: [], problems: [] }
  const top = await lstat(dir).catch(() => undefined)
  if (!top?.isDirectory()) {
    const why = top?.isSymbolicLink() ? 'is a symbolic link; the plugin folder itself must be a real folder' : top ? 'is not a folder' : 'does not exist'
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin folder ${dir} ${why}`)
  }
  let entries = 0
  const walk = async (rel: string): Promise<void> => {
    const found = await readdir(join(dir, rel), { withFileTypes: true })
    for (const e of found.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (++entries > MAX_ENTRIES) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin folder ${dir} holds more than ${MAX_ENTRIES} entries`)
      const path = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isSymbolicLink()) {
        scan.links.push(path)
        problem(scan, dir, path, 'is a symbolic link; bundles may not contain links, which could point outside the plugin folder')
      } else if (e.isDirectory()) await walk(path)
      else if (e.isFile()) scan.files.add(path)
      else problem(scan, dir, path, 'is not a regular file or folder')
    }
  }
  await walk('')
  return scan
}

function problem(scan: Scan, dir: string, path: string, message: string): void {
  scan.problems.push({ where: join(dir, path), message })
}

function fail(dir: string, problems: readonly Problem[]): void {
  const first = problems[0]
  if (!first) return
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''
  throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin folder ${dir} does not match its manifest: ${first.where} ${first.message}${more}`, { problems })
}
