// Reads a V8 `.cpuprofile` (what `--cpu-prof`, the inspector and Chrome DevTools write) and says
// where the time went: self time by function and by package or source folder, in µs per event.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/** The parts of V8's Profiler.Profile this reader uses. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
    readonly children?: readonly number[]
  }[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** One line of a top list: a function or a group of them. */
export interface CostLine {
  readonly name: string
  readonly selfMs: number
  /** self time ÷ the row's events, in µs */
  readonly usPerEvent: number
  /** share of the sampled time that was not idle */
  readonly share: number
}

export interface ProfileSummary {
  readonly rowId: string
  readonly file?: string
  readonly events: number
  /** wall time the profiler ran */
  readonly seconds: number
  /** sampled time spent on the thread (everything but `(idle)`), in ms */
  readonly busyMs: number
  readonly busyUsPerEvent: number
  readonly functions: readonly CostLine[]
  readonly groups: readonly CostLine[]
}

/** V8's pseudo-frames: `(idle)` is no cost; the others are, but have no source file. */
const IDLE = '(idle)'
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Checks the shape before anything is summed, so a wrong file says what is wrong with it. */
export function parseCpuProfile(text: string, where = 'profile'): CpuProfile {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new Error(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
  const p = data as Partial<CpuProfile> | null
  if (typeof p !== 'object' || p === null) throw new Error(`${where}: not a V8 CPU profile (expected an object)`)
  for (const key of ['nodes', 'samples', 'timeDeltas'] as const) if (!Array.isArray(p[key])) throw new Error(`${where}: not a V8 CPU profile (no "${key}" array)`)
  for (const key of ['startTime', 'endTime'] as const) if (typeof p[key] !== 'number') throw new Error(`${where}: not a V8 CPU profile (no numeric "${key}")`)
  if (p.samples?.length !== p.timeDeltas?.length) throw new Error(`${where}: "samples" and "timeDeltas" differ in length`)
  return p as CpuProfile
}

export async function readCpuProfile(file: string): Promise<CpuProfile> {
  return parseCpuProfile(await readFile(file, 'utf8'), file)
}

/** Self time per profile node in µs: each sample owns the interval up to the next sample. */
function selfTimes(p: CpuProfile): Map<number, number> {
  const self = new Map<number, number>()
  let at = p.startTime
  const stamps = p.timeDeltas.map((d) => (at += d))
  for (let i = 0; i < p.samples.length; i++) {
    const next = i + 1 < stamps.length ? (stamps[i + 1] ?? p.endTime) : p.endTime
    const id = p.samples[i] ?? -1
    self.set(id, (self.get(id) ?? 0) + Math.max(0, next - (stamps[i] ?? next)))
  }
  return self
}

/** A script URL as a reader wants it: relative to the repo, from node_modules on, or as given. */
export function shortUrl(url: string): string {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = path.lastIndexOf('/node_modules/')
  if (nm >= 0) return path.slice(nm + 1)
  if (path.startsWith(ROOT)) return path.slice(ROOT.length)
  return path
}

/**
 * The package or folder a frame belongs to: `node_modules/@nats-io/jetstream`,
 * `node_modules/fastify`, `src/pipeline`, `bench/lib`, `node:internal`, or the pseudo-frame's own
 * name (`(garbage collector)`, `(program)`); V8 builtins have no URL and are `(native)`.
 */
export function groupOf(functionName: string, url: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? 'node:internal' : url
  const short = shortUrl(url)
  const parts = short.split('/')
  if (parts[0] === 'node_modules') return parts.slice(0, parts[1]?.startsWith('@') ? 3 : 2).join('/')
  if (!short.startsWith('/')) return parts.length > 2 ? parts.slice(0, 2).join('/') : (parts[0] ?? short)
  return short.slice(0, short.lastIndexOf('/')) || short
}

function top(totals: Map<string, number>, busyUs: number, events: number, n: number): CostLine[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({
      name,
      selfMs: Math.round(us / 10) / 100,
      usPerEvent: events > 0 ? Math.round((us / events) * 100) / 100 : 0,
      share: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 1000 : 0,
    }))
}

export interface SummaryOptions {
  readonly rowId: string
  readonly events: number
  readonly seconds?: number
  readonly file?: string
  /** lines in each top list (default 15) */
  readonly top?: number
}

/**
 * A native function (V8 builtin or Node binding: no URL) says little alone — `writeUtf8String`
 * could be any socket write — so it is named with its nearest caller in a package or in src/.
 */
function jsCallers(p: CpuProfile): Map<number, string> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const caller = new Map<number, string>()
  for (const n of p.nodes) {
    if (n.callFrame.url !== '' || n.callFrame.functionName.startsWith('(')) continue
    // the nearest caller outside Node's own modules (whose `writeGeneric` says nothing), else the
    // nearest with a file at all; bounded, so a malformed profile with a cycle still ends
    let near: CpuProfile['nodes'][number]['callFrame'] | undefined
    for (let id = parent.get(n.id), hops = 0; id !== undefined && hops < 1000; id = parent.get(id), hops++) {
      const f = byId.get(id)?.callFrame
      if (!f || f.url === '') continue
      near ??= f
      if (!f.url.startsWith('node:')) {
        near = f
        break
      }
    }
    if (near) caller.set(n.id, `${near.functionName || '(anonymous)'} ${shortUrl(near.url)}:${near.lineNumber + 1}`)
  }
  return caller
}

/**
 * Aggregates self time by function (name + file:line; a native one with its nearest JS caller)
 * and by group; idle time is left out.
 */
export function summarizeProfile(p: CpuProfile, opts: SummaryOptions): ProfileSummary {
  const n = opts.top ?? 15
  const self = selfTimes(p)
  const callers = jsCallers(p)
  const byFunction = new Map<string, number>()
  const byGroup = new Map<string, number>()
  let busyUs = 0
  for (const node of p.nodes) {
    const us = self.get(node.id) ?? 0
    const { functionName, url, lineNumber } = node.callFrame
    if (us === 0 || functionName === IDLE) continue
    busyUs += us
    const caller = callers.get(node.id)
    const name = url !== '' ? `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}` : caller ? `${functionName || '(anonymous)'} ← ${caller}` : functionName || '(anonymous)'
    byFunction.set(name, (byFunction.get(name) ?? 0) + us)
    const group = groupOf(functionName, url)
    byGroup.set(group, (byGroup.get(group) ?? 0) + us)
  }
  return {
    rowId: opts.rowId,
    ...(opts.file !== undefined ? { file: opts.file } : {}),
    events: opts.events,
    seconds: Math.round((opts.seconds ?? (p.endTime - p.startTime) / 1e6) * 1000) / 1000,
    busyMs: Math.round(busyUs / 10) / 100,
    busyUsPerEvent: opts.events > 0 ? Math.round((busyUs / opts.events) * 100) / 100 : 0,
    functions: top(byFunction, busyUs, opts.events, n),
    groups: top(byGroup, busyUs, opts.events, n),
  }
}

/** The summaries as text, for the terminal after the results table. */
export function formatProfileSummaries(summaries: readonly ProfileSummary[], n = 10): string {
  const out: string[] = []
  const line = (c: CostLine) => `  ${c.usPerEvent.toFixed(2).padStart(9)} µs/ev ${(c.share * 100).toFixed(1).padStart(5)} %  ${c.name}`
  for (const s of summaries) {
    out.push(`profile ${s.rowId}: ${s.events} events in ${s.seconds} s, ${s.busyMs} ms on the JS thread = ${s.busyUsPerEvent} µs/event${s.file ? ` (${s.file})` : ''}`)
    out.push(' by package or folder (self time):', ...s.groups.slice(0, n).map(line))
    out.push(' by function (self time):', ...s.functions.slice(0, n).map(line), '')
  }
  return `${out.join('\n')}\n`
}
