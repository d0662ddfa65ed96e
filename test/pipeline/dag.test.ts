import t from 'tap'
import { topologicalLevels } from '../../src/pipeline/dag.ts'

t.test('orders stages into levels, keeping declaration order within a level', async (t) => {
  const r = topologicalLevels([
    { id: 'a', needs: [] },
    { id: 'c', needs: ['a'] },
    { id: 'b', needs: ['a'] },
    { id: 'd', needs: ['b', 'c'] },
    { id: 'e', needs: [] },
  ])
  t.same(r, { type: 'ok', levels: [['a', 'e'], ['c', 'b'], ['d']] })
})

t.test('names the stages of a cycle', async (t) => {
  const r = topologicalLevels([
    { id: 'a', needs: [] },
    { id: 'b', needs: ['a', 'd'] },
    { id: 'c', needs: ['b'] },
    { id: 'd', needs: ['c'] },
  ])
  t.equal(r.type, 'cycle')
  if (r.type === 'cycle') t.same([...r.cycle].sort(), ['b', 'c', 'd'])
})

t.test('an empty pipeline has no levels', async (t) => {
  t.same(topologicalLevels([]), { type: 'ok', levels: [] })
})
