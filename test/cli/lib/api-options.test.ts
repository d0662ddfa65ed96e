import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { apiConfigFrom, type ApiCliOptions } from '../../../cmd/lib/api-options.ts'
import { isOmniError } from '../../../src/errors/mod.ts'

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omni-api-options-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const base = (data: string, extra: Partial<ApiCliOptions> = {}): ApiCliOptions => ({ api: true, data, bodyLimit: 1024 * 1024, rateLimit: 6000, quotaEvents: 0, quotaBytes: 0, quotaWindow: 60, ...extra })

const TOKENS = `tokens:
  - { name: old, token: old-token-0123456789abcdefgh, scopes: [read] }
  - name: ops
    token: ops-token-0123456789abcdefgh
    scopes: [admin]
    tenants: ['*']
`

async function problems(p: Promise<unknown>): Promise<string[]> {
  try {
    await p
  } catch (err) {
    // one problem is the message itself; several are listed
    if (isOmniError(err)) return err.problems.length > 0 ? err.problems.map((x) => `${x.where}: ${x.message}`) : [err.message]
    throw err
  }
  return []
}

t.test('the generated admin token is the operator own: every tenant, with no flag', async (t) => {
  const { config } = await apiConfigFrom(base(await folder(t)), {})
  t.equal(config.tokens[0]?.name, 'local-admin')
  t.equal(config.tokens[0]?.tenants, undefined, 'every tenant')
})

t.test("a tokens file: a token without tenants reaches the default tenant; * needs the operator's word, and a refusal points at the file", async (t) => {
  const dir = await folder(t)
  const file = join(dir, 'tokens.yaml')
  await writeFile(file, TOKENS)
  const refused = await problems(apiConfigFrom(base(dir, { tokens: file }), {}))
  t.equal(refused.length, 1)
  t.match(refused[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:6:15 \\(tokens\\[1\\]\\.tenants\\[0\\]\\): .*--api-all-tenants`))
  t.notMatch(refused[0], /ops-token/, 'no token is quoted')
  const flag = await apiConfigFrom(base(dir, { tokens: file, apiAllTenants: true }), {})
  t.same(flag.config.tokens.map((x) => [x.name, x.tenants]), [['old', ['default']], ['ops', undefined]])
  const env = await apiConfigFrom(base(dir, { tokens: file }), { OMNI_API_ALL_TENANTS: 'true' })
  t.equal(env.config.tokens[1]?.tenants, undefined, 'or $OMNI_API_ALL_TENANTS=true')
  t.match(await problems(apiConfigFrom(base(dir, { tokens: file }), { OMNI_API_ALL_TENANTS: 'yes' })), [/^\$OMNI_API_ALL_TENANTS/])
})
