import t from 'tap'
import { parseYamlManifest } from '../../src/yaml/yaml.ts'

t.test('locates values and falls back to the nearest ancestor', async (t) => {
  const m = parseYamlManifest('f.yaml', 'a:\n  b:\n    - x\n    - { c: 1 }\n')
  t.equal(m.locate(['a', 'b', 1, 'c']), 'f.yaml:4:12')
  t.equal(m.locate(['a', 'b', 1, 'missing']), 'f.yaml:4:7')
  t.equal(m.locate([]), 'f.yaml:1:1')
})

t.test('syntax errors and duplicate keys carry file:line:col', async (t) => {
  t.throws(() => parseYamlManifest('f.yaml', 'a: 1\na: 2\n'), { code: 'OMNI_ERR_YAML', problems: [{ where: 'f.yaml:2:1', message: /unique/ }] })
  t.throws(() => parseYamlManifest('f.yaml', 'a: [1, 2\nb: 3\n'), { code: 'OMNI_ERR_YAML', problems: [{ where: /^f\.yaml:\d+:\d+$/ }] })
})

t.test('alias bombs are refused', async (t) => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n')
  t.throws(() => parseYamlManifest('f.yaml', bomb))
})
