import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../src/errors/mod.ts'
import { addPluginFlags } from './plugin-flags.ts'

/** The plugin flags as commander parses them (all optional; defaults come from the environment). */
export interface PluginCliOptions {
  plugins?: string
  trust?: string
  cluster?: string
  dockerSocket?: string
}

/**
 * Adds --plugins <dir> (default $OMNI_PLUGINS, else <data>/plugins), --trust <dir> (default
 * $OMNI_TRUST, else <data>/trust), --cluster <name> (default $OMNI_CLUSTER, else "local") and
 * --docker-socket <path> (default $OMNI_DOCKER_SOCKET, else /var/run/docker.sock).
 */
export function withPluginOptions(cmd: Command): Command {
  return addPluginFlags(cmd, ['plugins', 'trust', 'cluster', 'dockerSocket'])
}

/** Where plugins live and how they are checked, resolved once. */
export interface PluginSettings {
  /** installed plugins, one folder per id (absolute) */
  readonly dir: string
  /** the trust store folder (absolute) */
  readonly trust: string
  /** this cluster's name, checked against each plugin's audience */
  readonly cluster: string
  /** the Docker engine's socket (absolute) */
  readonly dockerSocket: string
}

// the names a manifest's audience.clusters may hold (without the `*` wildcard)
const CLUSTER_NAME = /^[a-z0-9][a-z0-9_.-]*$/

/** Resolves the options to absolute paths; `data` is the data folder (default "data"). Flags win over OMNI_* variables. */
export function pluginSettingsFrom(opts: PluginCliOptions, data = 'data'): PluginSettings {
  const problems: { where: string; message: string }[] = []
  /** the flag, else the variable (unless empty), else the fallback; `where` names the one used */
  const pick = (flag: string, value: string | undefined, env: string, fallback: string): { value: string; where: string } => {
    if (value !== undefined) {
      if (value.trim() === '') problems.push({ where: flag, message: 'must not be empty' })
      return { value, where: flag }
    }
    const fromEnv = process.env[env]
    return fromEnv !== undefined && fromEnv.trim() !== '' ? { value: fromEnv, where: `$${env}` } : { value: fallback, where: flag }
  }
  const dir = pick('--plugins', opts.plugins, 'OMNI_PLUGINS', join(data, 'plugins'))
  const trust = pick('--trust', opts.trust, 'OMNI_TRUST', join(data, 'trust'))
  const cluster = pick('--cluster', opts.cluster, 'OMNI_CLUSTER', 'local')
  const dockerSocket = pick('--docker-socket', opts.dockerSocket, 'OMNI_DOCKER_SOCKET', '/var/run/docker.sock')
  if (!CLUSTER_NAME.test(cluster.value) || cluster.value.length > 64) {
    problems.push({ where: cluster.where, message: `"${cluster.value}" is not a cluster name: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 characters` })
  }
  const [first] = problems
  if (first && problems.length === 1) throw omniError('OMNI_ERR_CONFIG', `${first.where} ${first.message}`)
  if (problems.length > 1) throw omniError('OMNI_ERR_CONFIG', `${problems.length} invalid plugin options`, { problems })
  return Object.freeze({ dir: resolve(dir.value), trust: resolve(trust.value), cluster: cluster.value, dockerSocket: resolve(dockerSocket.value) })
}
