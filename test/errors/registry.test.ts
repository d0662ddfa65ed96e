import { readFile } from 'node:fs/promises'
import t from 'tap'
import { ERROR_CODES, hasCode, isOmniError, omniError } from '../../src/errors/mod.ts'

t.test('every error code is documented in docs/errors.md', async (t) => {
  const readme = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  for (const code of Object.keys(ERROR_CODES)) t.match(readme, new RegExp(`\\b${code}\\b`), `${code} is in docs/errors.md`)
})

t.test('errors are recognised by marker and code, not instanceof', async (t) => {
  const err = omniError('OMNI_ERR_MIGRATION', 'x', { cause: new Error('inner'), problems: [{ where: 'a', message: 'b' }] })
  const clone = structuredClone({ code: err.code })
  t.ok(isOmniError(err))
  t.notOk(isOmniError(new Error('plain')))
  t.ok(hasCode(clone, 'OMNI_ERR_MIGRATION'))
  t.equal(err.status, 500)
  t.equal(err.describe(), 'OMNI_ERR_MIGRATION: x\n  a: b')
  t.equal((err.cause as Error).message, 'inner')
})
