import { join, resolve } from 'node:path'
import t from 'tap'
import { pluginSettingsFrom } from '../../../cmd/lib/plugin-options.ts'

t.test('folders default into --data; flags win over OMNI_* variables', async (t) => {
  t.same(pluginSettingsFrom({ data: 'd' }, {}), { dir: resolve('d/plugins'), trust: resolve('d/trust'), cluster: 'local', dockerSocket: '/var/run/docker.sock', workDir: resolve('d/sandbox') })
  const env = { OMNI_PLUGINS: 'p', OMNI_TRUST: 't', OMNI_CLUSTER: 'eu-1', OMNI_DOCKER_SOCKET: 's' }
  t.same(pluginSettingsFrom({ data: 'd' }, env), { dir: resolve('p'), trust: resolve('t'), cluster: 'eu-1', dockerSocket: resolve('s'), workDir: resolve('d/sandbox') })
  t.same(pluginSettingsFrom({ data: 'd', plugins: 'fp', trust: 'ft', cluster: 'us-2' }, env), { dir: resolve('fp'), trust: resolve('ft'), cluster: 'us-2', dockerSocket: resolve('s'), workDir: resolve('d/sandbox') })
  t.equal(pluginSettingsFrom({ data: 'd' }, { OMNI_TRUST: '' }).trust, resolve(join('d', 'trust')), 'an empty variable counts as unset')
})

t.test('a bad value names its flag or variable; several are reported together', async (t) => {
  t.throws(() => pluginSettingsFrom({}, { OMNI_CLUSTER: 'EU 1' }), { code: 'OMNI_ERR_CONFIG', message: /^\$OMNI_CLUSTER "EU 1" is not a cluster name/ })
  t.throws(() => pluginSettingsFrom({ cluster: 'EU 1' }, {}), { code: 'OMNI_ERR_CONFIG', message: /^--cluster "EU 1" is not a cluster name/ })
  t.throws(() => pluginSettingsFrom({ plugins: '', trust: ' ' }, {}), { code: 'OMNI_ERR_CONFIG', message: '2 invalid plugin options', problems: [{ where: '--plugins' }, { where: '--trust' }] })
})
