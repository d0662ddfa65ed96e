/** A node of the stage graph: an id and the ids it needs. */
export interface DagNode {
  readonly id: string
  readonly needs: readonly string[]
}

export type DagResult = { type: 'ok'; levels: string[][] } | { type: 'cycle'; cycle: string[] }

/**
 * Orders stages into topological levels (Kahn's algorithm): a level holds every stage whose
 * needs are all in earlier levels, so a level's stages can run concurrently. Within a level the
 * declaration order is kept, which makes merges deterministic. Missing needs must be reported
 * before calling this; they are ignored here.
 */
export function topologicalLevels(nodes: readonly DagNode[]): DagResult {
  const ids = new Set(nodes.map((n) => n.id))
  const remaining = new Map(nodes.map((n) => [n.id, new Set(n.needs.filter((d) => ids.has(d)))]))
  const levels: string[][] = []
  while (remaining.size > 0) {
    const level = nodes.filter((n) => remaining.get(n.id)?.size === 0).map((n) => n.id)
    if (level.length === 0) return { type: 'cycle', cycle: findCycle(remaining) }
    for (const id of level) remaining.delete(id)
    for (const deps of remaining.values()) for (const id of level) deps.delete(id)
    levels.push(level)
  }
  return { type: 'ok', levels }
}

/** Walks unresolved needs until a node repeats; returns the stages on that cycle, in order. */
function findCycle(remaining: Map<string, Set<string>>): string[] {
  const start = remaining.keys().next().value as string
  const path: string[] = []
  const index = new Map<string, number>()
  let cur = start
  while (!index.has(cur)) {
    index.set(cur, path.length)
    path.push(cur)
    const next = remaining.get(cur)?.values().next().value
    if (next === undefined) return path
    cur = next
  }
  return path.slice(index.get(cur))
}
