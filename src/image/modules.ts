import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'

interface LockPackage {
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly dev?: boolean
}

/**
 * The folders (relative to `root`, e.g. `node_modules/fastify`) of the packages the app needs at
 * run time: the closure of package.json's dependencies through package-lock.json, resolved the
 * way Node does (nearest node_modules first), minus the `exclude`d packages and whatever only
 * they need. Optional packages that were not installed here (other platforms' binaries) are left
 * out; a required one that is missing is an error, so an image never lacks a module. `extra`
 * names packages to add as if package.json's dependencies listed them.
 */
export async function productionPackages(root: string, exclude: readonly string[] = [], extra: readonly string[] = []): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages?: Record<string, LockPackage> }
  const packages = lock.packages ?? {}
  const top = packages['']
  if (!top) throw new Error(`${join(root, 'package-lock.json')} has no root package: run npm install`)
  const skip = new Set(exclude)
  const found = new Set<string>()
  const queue: Array<{ from: string; name: string; optional: boolean }> = []
  const enqueue = (from: string, pkg: LockPackage) => {
    for (const name of Object.keys(pkg.dependencies ?? {})) queue.push({ from, name, optional: false })
    for (const name of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ from, name, optional: true })
    // peers are installed beside their dependent; an optional peer that is absent stays absent
    for (const name of Object.keys(pkg.peerDependencies ?? {})) queue.push({ from, name, optional: true })
  }
  enqueue('', top)
  for (const name of extra) queue.push({ from: '', name, optional: false })
  for (let item = queue.shift(); item; item = queue.shift()) {
    if (skip.has(item.name)) continue
    const at = resolveIn(packages, item.from, item.name)
    if (!at || !(await exists(join(root, at)))) {
      if (item.optional) continue
      throw new Error(`${item.from || 'package.json'} needs ${item.name}, which is not installed: run npm ci`)
    }
    if (found.has(at)) continue
    found.add(at)
    enqueue(at, packages[at] as LockPackage)
  }
  return [...found].sort()
}

/** Where Node finds `name` from the package at `from`: its own node_modules, then each parent's. */
function resolveIn(packages: Record<string, LockPackage>, from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`
    if (packages[candidate]) return candidate
    if (!dir) return undefined
    const cut = dir.lastIndexOf('/node_modules/')
    dir = cut < 0 ? '' : dir.slice(0, cut)
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
