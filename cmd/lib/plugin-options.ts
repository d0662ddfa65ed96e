import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import type { PluginHostOptions } from '../../src/node/mod.ts'
import { addEnvOption, optionReader, type EnvOption } from './options.ts'

/** The plugin flags as commander parses them (all optional; defaults come from the environment). */
export interface PluginCliOptions {
  /** the data folder the plugins and trust folders default into (default "data") */
  data?: string
  plugins?: string
  trust?: string
  cluster?: string
  dockerSocket?: string
}

/** The plugin-related flags; `withPluginOptions` adds all but `data`, each command the ones it uses. */
export type PluginFlag = 'data' | 'plugins' | 'trust' | 'cluster' | 'dockerSocket'

// the plugins and trust folders fall back to folders in --data, which is only known when the command runs
const PLUGINS: EnvOption<string> = { flags: '--plugins <dir>', env: 'OMNI_PLUGINS', fallback: join('data', 'plugins'), fallbackHelp: '<data>/plugins' }
const TRUST: EnvOption<string> = { flags: '--trust <dir>', env: 'OMNI_TRUST', fallback: join('data', 'trust'), fallbackHelp: '<data>/trust' }
const CLUSTER: EnvOption<string> = { flags: '--cluster <name>', env: 'OMNI_CLUSTER', fallback: 'local' }
/** The Docker engine's socket, for `omni up`, `omni plugin image build` and `omni bench`. */
export const DOCKER_SOCKET: EnvOption<string> = { flags: '--docker-socket <path>', env: 'OMNI_DOCKER_SOCKET', fallback: '/var/run/docker.sock' }

const FLAGS: Record<Exclude<PluginFlag, 'data'>, { readonly option: EnvOption<string>; readonly help: string }> = {
  plugins: { option: PLUGINS, help: 'installed plugins, one folder per id' },
  trust: { option: TRUST, help: 'trust store: roots/*.pub, publishers/*.dsse.json, revocations.dsse.json' },
  cluster: { option: CLUSTER, help: 'this cluster\'s name, which must be in a plugin\'s audience.clusters' },
  dockerSocket: { option: DOCKER_SOCKET, help: 'the Docker engine\'s socket' },
}

/** Adds the named flags. */
export function addPluginFlags(cmd: Command, names: readonly PluginFlag[]): Command {
  for (const name of names) {
    if (name === 'data') cmd.option('--data <dir>', 'data folder: plugins and trust store default to <data>/plugins and <data>/trust', 'data')
    else addEnvOption(cmd, FLAGS[name].option, FLAGS[name].help)
  }
  return cmd
}

/** Adds --plugins, --trust, --cluster and --docker-socket, each defaulting to its OMNI_* variable. */
export function withPluginOptions(cmd: Command): Command {
  return addPluginFlags(cmd, ['plugins', 'trust', 'cluster', 'dockerSocket'])
}

// the names a manifest's audience.clusters may hold (without the `*` wildcard)
const CLUSTER_NAME = /^[a-z0-9][a-z0-9_.-]*$/

/** The node's plugin settings from the options, with absolute paths; sandboxes work in <data>/sandbox. Flags win over OMNI_* variables. */
export function pluginSettingsFrom(opts: PluginCliOptions, env: NodeJS.ProcessEnv = process.env): PluginHostOptions {
  const data = opts.data ?? 'data'
  const reader = optionReader(env)
  const dir = reader.read({ ...PLUGINS, value: opts.plugins, fallback: join(data, 'plugins') })
  const trust = reader.read({ ...TRUST, value: opts.trust, fallback: join(data, 'trust') })
  const cluster = reader.read({ ...CLUSTER, value: opts.cluster })
  const dockerSocket = reader.read({ ...DOCKER_SOCKET, value: opts.dockerSocket })
  if (!CLUSTER_NAME.test(cluster.value) || cluster.value.length > 64) {
    reader.problem(cluster.where, `"${cluster.value}" is not a cluster name: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters`)
  }
  reader.done('plugin options')
  return Object.freeze({ dir: resolve(dir.value), trust: resolve(trust.value), cluster: cluster.value, dockerSocket: resolve(dockerSocket.value), workDir: resolve(data, 'sandbox') })
}
