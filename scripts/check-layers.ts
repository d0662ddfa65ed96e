// The import-direction check of `make test`: every import in src/ must point at its own layer or
// a lower one, in the order src/layers.ts gives. A short script over the TypeScript compiler's
// own import scanner (ts.preProcessFile) rather than a dependency-cruiser setup: typescript is
// already a devDependency, the rule is one comparison, and the scanner sees every form that
// makes one module depend on another: static and dynamic imports, `import type`,
// `export … from`, `import x = require()`, `typeof import()` and require() in .cjs files.
//
//   node scripts/check-layers.ts [root]     (root defaults to this repository)
import { readdirSync, readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { LAYERS, TEMPORARY_ALLOWED_IMPORTS, type AllowedImport } from '../src/layers.ts'

/** One module importing another, as paths relative to the root with `/` separators. */
export interface Import {
  readonly from: string
  readonly to: string
}

export interface ImportGraph {
  /** every source file under src/ */
  readonly files: readonly string[]
  readonly imports: readonly Import[]
  /** what cannot be checked: a specifier computed at run time, an absolute path, a symbolic link */
  readonly unchecked?: readonly string[]
}

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/

/** Every relative import of the source files under `<root>/src`; packages are left out. */
export function importGraph(root: string): ImportGraph {
  const unchecked: string[] = []
  const files = sourceFiles(root, 'src', unchecked)
  const imports: Import[] = []
  for (const from of files) {
    const text = readFileSync(path.join(root, from), 'utf8')
    const scanned = ts.preProcessFile(text, true, true)
    for (const { fileName } of scanned.importedFiles) {
      if (/^(\/|file:)/.test(fileName)) unchecked.push(`${from} imports ${fileName}: import by a relative path, so the order can be checked`)
      if (!fileName.startsWith('.')) continue
      imports.push({ from, to: path.posix.normalize(path.posix.join(path.posix.dirname(from), fileName)) })
    }
    // the scanner sees only literal specifiers: one computed at run time could point anywhere
    if (COMPUTED_IMPORT.test(text)) unchecked.push(`${from} imports a module whose name is computed at run time: use a literal specifier, so the order can be checked`)
  }
  return { files, imports, unchecked }
}

/** `import(` or `import.meta.resolve(` followed by anything but a plain string literal. */
const COMPUTED_IMPORT = /\bimport\s*\(\s*(?!['"][^'"`$]*['"]\s*[,)])|\bimport\.meta\.resolve\s*\(/

function sourceFiles(root: string, dir: string, unchecked: string[]): string[] {
  const out: string[] = []
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`
    // a link would let a file of one folder be another folder's
    if (entry.isSymbolicLink()) unchecked.push(`${rel} is a symbolic link: src holds plain files and folders only, so each file has one layer`)
    else if (entry.isDirectory()) out.push(...sourceFiles(root, rel, unchecked))
    else if (SOURCE.test(entry.name)) out.push(rel)
  }
  return out.sort()
}

/** The folder under src/ a path belongs to; undefined for a file at the top of src/ or outside it. */
function folderOf(file: string): string | undefined {
  const parts = file.split('/')
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : undefined
}

/**
 * What breaks the order, one line each: an import of a higher layer, of a file outside src/,
 * from or into a folder that is in no layer, and an allowed import that no longer happens.
 */
export function layerProblems(graph: ImportGraph, order: readonly string[] = LAYERS, allowed: readonly AllowedImport[] = TEMPORARY_ALLOWED_IMPORTS): string[] {
  const rank = new Map(order.map((layer, i) => [layer, i + 1]))
  const problems: string[] = [...(graph.unchecked ?? [])]
  const unlayered = new Set(graph.files.map(folderOf).filter((f): f is string => f !== undefined && !rank.has(f)))
  for (const folder of [...unlayered].sort()) problems.push(`src/${folder} is in no layer: add "${folder}" to LAYERS in src/layers.ts`)
  const used = new Set<AllowedImport>()
  const seen = new Set<string>()
  for (const { from, to } of graph.imports) {
    const key = `${from}\u0000${to}`
    if (seen.has(key)) continue
    seen.add(key)
    if (!to.startsWith('src/')) {
      problems.push(`${from} imports ${to}: src may not import anything outside it`)
      continue
    }
    const a = folderOf(from)
    const b = folderOf(to)
    if (a === b && a !== undefined) continue
    const ra = a === undefined ? undefined : rank.get(a)
    const rb = b === undefined ? undefined : rank.get(b)
    // an unknown folder is reported once above; a file at the top of src/ belongs to no layer
    if (ra === undefined || rb === undefined) {
      if (a === undefined || b === undefined) problems.push(`${from} imports ${to}: files at the top of src/ are in no layer, so neither imports nor is imported`)
      continue
    }
    if (ra >= rb) continue
    const exception = allowed.find((x) => x.from === from && x.to === to)
    if (exception) used.add(exception)
    else problems.push(`${from} imports ${to}: ${a} (layer ${ra}) may not import ${b} (layer ${rb})`)
  }
  for (const x of allowed) {
    if (!used.has(x)) problems.push(`${x.from} no longer imports ${x.to} against the order: remove it from TEMPORARY_ALLOWED_IMPORTS in src/layers.ts`)
  }
  return problems
}

/** Runs the check on a tree and prints the outcome; resolves with the exit code. */
export function main(root: string): number {
  const graph = importGraph(root)
  const problems = layerProblems(graph)
  if (problems.length > 0) {
    for (const p of problems) console.error(p)
    console.error(`layers: ${problems.length} problem(s); the order is in src/layers.ts`)
    return 1
  }
  const allowed = TEMPORARY_ALLOWED_IMPORTS.length
  console.log(`layers: ${graph.files.length} files, ${graph.imports.length} imports follow the order${allowed > 0 ? ` (${allowed} temporarily allowed)` : ''}`)
  return 0
}

const self = fileURLToPath(import.meta.url)
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(self)) {
  process.exitCode = main(process.argv[2] ?? path.resolve(path.dirname(self), '..'))
}
