import type { Command } from 'commander'

/** The plugin-related flags; `withPluginOptions` adds all but `data`, each command the ones it uses. */
export type PluginFlag = 'data' | 'plugins' | 'trust' | 'cluster' | 'dockerSocket'

const FLAGS: Record<PluginFlag, { readonly flags: string; readonly help: string; readonly fallback?: string }> = {
  data: { flags: '--data <dir>', help: 'data folder: plugins and trust store default to <data>/plugins and <data>/trust', fallback: 'data' },
  plugins: { flags: '--plugins <dir>', help: 'installed plugins, one folder per id (default $OMNI_PLUGINS, else <data>/plugins)' },
  trust: { flags: '--trust <dir>', help: 'trust store: roots/*.pub, publishers/*.dsse.json, revocations.dsse.json (default $OMNI_TRUST, else <data>/trust)' },
  cluster: { flags: '--cluster <name>', help: 'this cluster\'s name, which must be in a plugin\'s audience.clusters (default $OMNI_CLUSTER, else "local")' },
  dockerSocket: { flags: '--docker-socket <path>', help: 'the Docker engine\'s socket (default $OMNI_DOCKER_SOCKET, else /var/run/docker.sock)' },
}

/**
 * Adds the named flags. Only `--data` has a commander default: the others depend on it and on
 * the environment, so `pluginSettingsFrom` resolves them when the command runs.
 */
export function addPluginFlags(cmd: Command, names: readonly PluginFlag[]): Command {
  for (const name of names) {
    const f = FLAGS[name]
    if (f.fallback === undefined) cmd.option(f.flags, f.help)
    else cmd.option(f.flags, f.help, f.fallback)
  }
  return cmd
}
