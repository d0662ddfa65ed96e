// scratch: self and inclusive time per function from a .cpuprofile
import { readFileSync } from 'node:fs'
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[]; hitCount?: number }
const p = JSON.parse(readFileSync(process.argv[2] ?? '/tmp/e2e.cpuprofile', 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] }
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const self = new Map<number, number>()
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const key = (n: Node) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/work\/main\//, '').replace(/^.*node_modules\//, 'nm/')}:${n.callFrame.lineNumber + 1}`
const selfBy = new Map<string, number>()
const incl = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id)!
  selfBy.set(key(n), (selfBy.get(key(n)) ?? 0) + t)
  const seen = new Set<string>()
  let cur: number | undefined = id
  while (cur !== undefined) {
    const k = key(byId.get(cur)!)
    if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t) }
    cur = parent.get(cur)
  }
}
const pct = (t: number) => ((100 * t) / total).toFixed(1).padStart(5) + '%'
console.log('total ms', (total / 1000).toFixed(0))
console.log('--- self')
for (const [k, t] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 40))) console.log(pct(t), k)
console.log('--- inclusive')
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[4] ?? 70))) console.log(pct(t), k)
