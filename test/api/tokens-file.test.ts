import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { localAdminToken, readTokensFile } from '../../src/api/tokens-file.ts'

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-tokens-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('the local admin token is made once, for its owner only, and kept that way', async (t) => {
  const file = join(await folder(t), 'nested', 'api-token')
  const first = await localAdminToken(file)
  t.equal(first.created, true)
  t.ok(first.token.length >= 24, 'long enough to pass the API minimum')
  t.equal((await stat(file)).mode & 0o777, 0o600)
  await chmod(file, 0o644)
  const again = await localAdminToken(file)
  t.same(again, { token: first.token, created: false }, 'the same token at the next start')
  t.equal((await stat(file)).mode & 0o777, 0o600, 'a widened file is narrowed again')
  await writeFile(file, 'short\n')
  const replaced = await localAdminToken(file)
  t.equal(replaced.created, true, 'a token too short to be safe is replaced')
  t.not(replaced.token, 'short')
})

t.test('a tokens file: the list is read; a broken one is named by position, never quoting a token', async (t) => {
  const dir = await folder(t)
  const good = join(dir, 'tokens.yaml')
  await writeFile(good, 'tokens:\n  - { name: ci, token: ci-token-0123456789abcdefgh, scopes: [ingest] }\n')
  t.same(await readTokensFile(good), [{ name: 'ci', token: 'ci-token-0123456789abcdefgh', scopes: ['ingest'] }])
  const broken = join(dir, 'broken.yaml')
  await writeFile(broken, 'tokens:\n  - name: a\n    token: SECRET-TOKEN-0123456789: [\n')
  const err = await readTokensFile(broken).catch((e: unknown) => e as Error & { code: string })
  t.equal((err as { code: string }).code, 'OMNI_ERR_CONFIG')
  t.match((err as Error).message, /not YAML at .*broken\.yaml:3:\d+$/)
  t.notMatch((err as Error).message, /SECRET-TOKEN/, 'the offending line is not quoted')
  const notList = join(dir, 'not-list.yaml')
  await writeFile(notList, 'tokens: yes\n')
  await t.rejects(readTokensFile(notList), { code: 'OMNI_ERR_CONFIG', message: /needs a list under "tokens:"/ })
  await t.rejects(readTokensFile(join(dir, 'missing.yaml')), { code: 'OMNI_ERR_CONFIG', message: /cannot read the tokens file/ })
  t.equal(await readFile(good, 'utf8').then(() => 'kept'), 'kept')
})
