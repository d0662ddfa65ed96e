import { resolve } from 'node:path'
import { Command } from 'commander'
import t from 'tap'
import { addEnvOption, MANIFESTS, manifestsOption, manifestsPath, natsUrl, optionReader, resolveOption, type EnvOption } from '../../../cmd/lib/options.ts'
import { parseCount } from '../../../cmd/lib/parse.ts'
import { isOmniError } from '../../../src/errors/mod.ts'
import { omni } from '../../fixtures/cli.ts'

const PORT: EnvOption<number> = { flags: '--port <n>', env: 'TEST_PORT', fallback: 8080, parse: parseCount }
const DIR: EnvOption<string> = { flags: '-d, --dir <dir>', env: 'TEST_DIR', fallback: 'data' }

/** The OMNI_CONFIG error `fn` throws, or undefined. */
function configError(fn: () => unknown) {
  try {
    fn()
  } catch (err) {
    if (isOmniError(err) && err.code === 'OMNI_ERR_CONFIG') return err
    throw err
  }
  return undefined
}

t.test('the flag wins, then the variable, then the fallback; each says where it came from', async (t) => {
  t.same(resolveOption({ ...DIR, value: 'flag' }, { TEST_DIR: 'env' }), { value: 'flag', source: 'flag', where: '--dir' })
  t.same(resolveOption({ ...DIR, value: undefined }, { TEST_DIR: 'env' }), { value: 'env', source: 'env', where: '$TEST_DIR' })
  t.same(resolveOption({ ...DIR, value: undefined }, {}), { value: 'data', source: 'default', where: '--dir' })
  t.same(resolveOption({ ...DIR, value: undefined }, { TEST_DIR: '  ' }), { value: 'data', source: 'default', where: '--dir' }, 'an empty variable counts as unset')
  t.same(resolveOption({ ...DIR, value: undefined, fallback: 'elsewhere' }, {}).value, 'elsewhere', 'a fallback known only at run time')
})

t.test('a variable is parsed like the flag; an invalid value is reported with its $VAR or flag', async (t) => {
  t.same(resolveOption({ ...PORT, value: undefined }, { TEST_PORT: '9000' }), { value: 9000, source: 'env', where: '$TEST_PORT' })
  t.equal(configError(() => resolveOption({ ...PORT, value: undefined }, { TEST_PORT: 'x' }))?.message, '$TEST_PORT must be a non-negative integer, got "x"')
  t.equal(configError(() => resolveOption({ ...DIR, value: '' }, {}))?.message, '--dir must not be empty')
  const reader = optionReader({ TEST_PORT: '-1' })
  reader.read({ ...PORT, value: undefined })
  reader.read({ ...DIR, value: ' ' })
  reader.problem('--other', 'is wrong too')
  const err = configError(() => reader.done('test options'))
  t.equal(err?.message, '3 invalid test options')
  t.same(err?.problems.map((p) => p.where), ['$TEST_PORT', '--dir', '--other'], 'every problem at once, each named')
})

t.test('help spells the default out; commander holds no default that would hide the variable', async (t) => {
  const cmd = new Command('x').exitOverride()
  addEnvOption(cmd, PORT, 'port')
  addEnvOption(cmd, { ...DIR, fallbackHelp: '<data>' }, 'folder')
  const help = cmd.helpInformation().replace(/\s+/g, ' ')
  t.match(help, '--port <n> port (default: $TEST_PORT, else 8080)')
  t.match(help, '-d, --dir <dir> folder (default: $TEST_DIR, else <data>)')
  cmd.parse(['--port', '7'], { from: 'user' })
  t.same(cmd.opts(), { port: 7 }, 'the flag is parsed by the same parser; an absent flag stays undefined')
  t.throws(() => cmd.parse(['--port', 'x'], { from: 'user' }), /--port must be a non-negative integer, got "x"/)
})

t.test('--manifests and --nats honour $OMNI_MANIFESTS and $OMNI_NATS_URL', async (t) => {
  t.equal(manifestsOption(undefined, {}), 'manifests')
  t.equal(manifestsOption(undefined, { OMNI_MANIFESTS: 'elsewhere' }), 'elsewhere')
  t.equal(manifestsOption('flag', { OMNI_MANIFESTS: 'elsewhere' }), 'flag')
  t.equal(manifestsPath(undefined, { OMNI_MANIFESTS: 'elsewhere' }), resolve('elsewhere'))
  t.equal(natsUrl(undefined, {}), 'nats://127.0.0.1:4222')
  t.equal(natsUrl(undefined, { OMNI_NATS_URL: 'nats://n:1' }), 'nats://n:1')
  t.equal(MANIFESTS.flags, '-m, --manifests <path>')
})

t.test('omni up --help names $OMNI_MANIFESTS and the variables of its other options', async (t) => {
  const help = await omni(['up', '--help'], { env: { OMNI_MANIFESTS: '/somewhere/else' } })
  t.equal(help.code, 0)
  const text = help.stdout.replace(/\s+/g, ' ')
  t.match(text, '-m, --manifests <path> manifests folder (catalog and pipelines) (default: $OMNI_MANIFESTS, else ./manifests)')
  for (const v of ['OMNI_LOG_LEVEL', 'OMNI_API_HOST', 'OMNI_API_PORT', 'OMNI_API_TOKENS_FILE', 'OMNI_CLICKHOUSE_URL', 'OMNI_PLUGINS', 'OMNI_TRUST', 'OMNI_CLUSTER', 'OMNI_DOCKER_SOCKET']) t.match(text, `(default: $${v}`)
  t.notMatch(text, '/somewhere/else', 'help does not bake in the environment it ran in')
})
