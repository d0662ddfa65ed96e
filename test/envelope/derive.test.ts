import { createHash } from 'node:crypto'
import t from 'tap'
import { stableHash } from '../../src/envelope/derive.ts'

/** The digest as it was first defined: a Hash object fed each part and a NUL. */
function incremental(...parts: string[]): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(p).update('\u0000')
  return h.digest('base64url').slice(0, 22)
}

t.test('stableHash keeps the digest ids and keys were made with (they must come out the same on redelivery and across upgrades)', async (t) => {
  const cases: string[][] = [[], [''], ['a'], ['a', 'b'], ['ab'], ['a', ''], ['', 'a'], ['é', 'ü', '字'], ['😀', 'x'], ['\ud800', 'x'], ['x', '\udc00'], ['a\u0000b', 'c']]
  for (const parts of cases) t.equal(stableHash(...parts), incremental(...parts), JSON.stringify(parts))
  t.equal(stableHash('pipeline', 'client', 'default', 'k1'), 'CjfZVH7jaKSgYO3rgyv6Pr', 'a pinned value: a change here changes every dedup key already stored')
  t.not(stableHash('a', 'b'), stableHash('ab'), 'the parts stay apart')
})
