import { execFile } from 'node:child_process'
import { lstat, readdir, stat } from 'node:fs/promises'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { sharedLibraries, type TarEntry } from '../rootfs/mod.ts'
import { APP_IN_IMAGE, DATA_IN_IMAGE, IMAGE_UID, NATS_IN_IMAGE, NODE_IN_IMAGE } from './layout.ts'
import { productionPackages } from './modules.ts'
import { type ImageVariant, VARIANT_EXCLUDES } from './variant.ts'

/** What goes into the image, from this machine. */
export interface RecipeInputs {
  /** the repository: package.json, package-lock.json, cmd/, src/, manifests/, node_modules/ */
  readonly root: string
  readonly variant: ImageVariant
  /** a Node 24 binary for linux-x64 glibc */
  readonly nodePath: string
  readonly natsServerPath: string
}

/**
 * The app's own folders and files (everything else in the repository stays out). bench/ is
 * there because the CLI imports it when it starts (`omni bench`, `omni verify ledger`).
 */
const APP_PARTS = ['package.json', 'cmd', 'src', 'manifests', 'bench'] as const
/**
 * Left out of APP_PARTS: the repository's TEST signing keys. They are public, and a node told to
 * trust manifests/plugins/test-trust runs anything they sign; nothing in the image signs plugins,
 * so an image never carries a private key.
 */
const APP_LEFT_OUT = ['manifests/plugins/test-keys/'] as const
/** bench/'s HTTP scenario imports autocannon, a devDependency (≈ 6 MB with its own packages). */
const CLI_DEV_PACKAGES = ['autocannon'] as const
const PLATFORM = `${process.platform}-${process.arch}`
const exec = promisify(execFile)

/**
 * Every entry of the image's root filesystem: Node and the libraries it and the native addons
 * need, nats-server, the app and its production packages, `/data` owned by the platform's uid,
 * `/tmp` 1777, and an /etc with the platform's account only. Deterministic: the same inputs give
 * the same list, in the same order.
 */
export async function recipeEntries(inputs: RecipeInputs): Promise<TarEntry[]> {
  const files: Array<{ path: string; from: string; mode: number }> = [
    { path: NODE_IN_IMAGE, from: inputs.nodePath, mode: 0o555 },
    { path: NATS_IN_IMAGE, from: inputs.natsServerPath, mode: 0o555 },
  ]
  for (const path of await appFiles(inputs.root)) await addTree(files, join(inputs.root, path), `${APP_IN_IMAGE}/${path}`)
  for (const pkg of await productionPackages(inputs.root, VARIANT_EXCLUDES[inputs.variant], CLI_DEV_PACKAGES)) {
    await addTree(files, join(inputs.root, pkg), `${APP_IN_IMAGE}/${pkg}`)
  }
  const binaries = [inputs.nodePath, inputs.natsServerPath, ...files.filter((f) => /\.(node|so(\.\d+)*)$/.test(f.path)).map((f) => f.from)]
  const libs = new Set<string>()
  for (const binary of binaries) for (const lib of await sharedLibraries(binary)) libs.add(lib)
  // a library the app already ships (libchdb.so beside its addon) stays where the addon finds it
  const shipped = new Set(files.map((f) => f.from))
  for (const lib of [...libs].sort()) if (!shipped.has(lib)) files.push({ path: lib, from: lib, mode: 0o555 })

  const dirs = new Map<string, { mode: number; owner?: number }>([
    ['tmp', { mode: 0o1777 }],
    [DATA_IN_IMAGE.slice(1), { mode: 0o755, owner: IMAGE_UID }],
    ['proc', { mode: 0o555 }],
    ['dev', { mode: 0o755 }],
    ['sys', { mode: 0o555 }],
    ['etc', { mode: 0o755 }],
  ])
  for (const f of files) {
    for (let d = parent(f.path); d !== ''; d = parent(d)) if (!dirs.has(d.slice(1))) dirs.set(d.slice(1), { mode: 0o755 })
  }
  const entries: TarEntry[] = [...dirs].sort(([a], [b]) => a.localeCompare(b)).map(([path, d]) => ({ type: 'dir', path, ...d }))
  for (const f of files.sort((a, b) => a.path.localeCompare(b.path))) {
    entries.push({ type: 'file', path: f.path.slice(1), mode: f.mode, size: (await stat(f.from)).size, from: f.from })
  }
  // the platform's account, so tools that look the uid up find a name; no host account leaks in
  entries.push(memoryFile('etc/passwd', `root:x:0:0::/:/sbin/nologin\nomni:x:${IMAGE_UID}:${IMAGE_UID}:omni:/tmp:/sbin/nologin\n`))
  entries.push(memoryFile('etc/group', `root:x:0:\nomni:x:${IMAGE_UID}:\n`))
  // names resolve from /etc/hosts, then DNS (Kubernetes service names)
  entries.push(memoryFile('etc/nsswitch.conf', 'hosts: files dns\n'))
  return entries
}

/**
 * The files of APP_PARTS that git tracks or would track (not ignored): results, scratch files
 * and local data stay out, and the image holds what a fresh clone plus the working changes hold.
 */
async function appFiles(root: string): Promise<string[]> {
  let stdout: string
  try {
    ;({ stdout } = await exec('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...APP_PARTS], { maxBuffer: 64 * 1024 * 1024 }))
  } catch (err) {
    throw new Error(`cannot list the app's files with git in ${root} (the image is built from a git checkout): ${(err as Error).message}`, { cause: err })
  }
  // a file deleted in the working tree is still in the index until committed
  const listed = [...new Set(stdout.split('\0').filter((p) => p !== ''))].sort()
  const present = await Promise.all(listed.map((p) => lstat(join(root, p)).then((s) => s.isFile(), () => false)))
  return listed.filter((p, i) => present[i] && !APP_LEFT_OUT.some((out) => p.startsWith(out)))
}

function memoryFile(path: string, text: string): TarEntry {
  const from = Buffer.from(text)
  return { type: 'file', path, mode: 0o444, size: from.length, from }
}

function parent(path: string): string {
  const cut = path.lastIndexOf('/')
  return cut <= 0 ? '' : path.slice(0, cut)
}

/**
 * Adds the regular files under `from` as `to`, read-only (executable when they were). Left out:
 * a package's nested node_modules (its packages are listed on their own, when needed), native
 * builds for other platforms and the compiler's intermediates, and symbolic links.
 */
async function addTree(files: Array<{ path: string; from: string; mode: number }>, from: string, to: string): Promise<void> {
  const info = await lstat(from)
  if (info.isFile()) {
    files.push({ path: to, from, mode: info.mode & 0o111 ? 0o555 : 0o444 })
    return
  }
  if (!info.isDirectory()) return
  for (const entry of (await readdir(from, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const name = entry.name
    if (entry.isDirectory() && (name === 'node_modules' || name === 'obj.target' || name === '.deps')) continue
    if (entry.isDirectory() && from.endsWith('/prebuilds') && name !== PLATFORM) continue
    if (name.endsWith('.musl.node')) continue
    await addTree(files, join(from, name), `${to}/${name}`)
  }
}
