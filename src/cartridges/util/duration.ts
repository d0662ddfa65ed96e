import type { PathSegment } from '../../yaml/yaml.ts'
import { parseDuration } from '../../util/duration.ts'
import { ConfigProblem } from '../../pipeline/stage.ts'

/** A duration from a stage's `with`, which must be longer than zero; bad values become a ConfigProblem at `path`. */
export function configDuration(value: string | number, path: readonly PathSegment[]): number {
  let ms: number
  try {
    ms = parseDuration(value)
  } catch (err) {
    throw new ConfigProblem(path, (err as Error).message)
  }
  if (ms <= 0) throw new ConfigProblem(path, `duration ${JSON.stringify(value)} must be at least 1ms`)
  return ms
}
