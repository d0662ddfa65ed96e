import type { PathSegment } from '../../yaml/yaml.ts'
import { ConfigProblem } from '../../pipeline/stage.ts'

/**
 * Compiles list entries into one matcher: an entry matches exactly, or, when it ends in `*`,
 * any value starting with what comes before it (`+4930*`, `*` for everything). A `*` anywhere
 * else is a ConfigProblem at `[...at, index]`, so a typo does not silently match nothing.
 */
export function compileGlobs(values: readonly string[], at: readonly PathSegment[]): (value: string) => boolean {
  const exact = new Set<string>()
  const prefixes: string[] = []
  values.forEach((v, i) => {
    const star = v.indexOf('*')
    if (star === -1) exact.add(v)
    else if (star === v.length - 1) prefixes.push(v.slice(0, -1))
    else throw new ConfigProblem([...at, i], `"${v}": '*' is only allowed at the end`)
  })
  return (value) => exact.has(value) || prefixes.some((p) => value.startsWith(p))
}
