import { hostname, userInfo } from 'node:os'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { isPluginId } from '../../lib/parse.ts'
import { withNodeClient } from '../../lib/session.ts'

interface PendingOptions extends PluginCliOptions {
  nats?: string
  manifests?: string
  json?: boolean
  digest?: string
  reason?: string
  data: string
}

/** `omni plugin pending [approve|reject <id>]`: the cartridges from other nodes waiting for a person (sovereignty L1). */
export function registerPending(plugin: Command): void {
  const pending = plugin
    .command('pending')
    .summary('cartridges from other nodes waiting for a person to approve (mesh sovereignty L1)')
    .description(
      'Lists the verified cartridges received from peers under sovereignty L1, with their origin, publisher key, tier and capabilities. ' +
        '`approve <id>` installs one through the normal install path (verified again) and approves its capabilities as `cli:<OS user>@<host>`; `reject <id>` drops it. Both record an audit event (cartridge.installed, cartridge.refused).',
    )
  // the flags live on each subcommand: on the parent, commander would take them from every subcommand
  const list = pending.command('list', { isDefault: true }).description('list the pending cartridges (the default)').option('--json', 'print the list as JSON')
  withFlags(list).action(async (opts: PendingOptions) => {
    const list = await withNodeClient(clientOptions(opts), ({ cartridges }) => cartridges.pending())
    if (opts.json) return say(JSON.stringify(list, null, 2))
    if (list.length === 0) return say('no cartridge is waiting for approval')
    for (const p of list) {
      say(`${p.id}@${p.version} serial ${p.serial}, tier ${p.tier}, from ${p.origin} (cluster ${p.cluster}) at ${p.receivedAt}`)
      say(`  signed by ${p.signer} (${p.keyid}), digest sha256:${p.digest}, runtime ${p.runtime}`)
      say(`  capabilities ${JSON.stringify(p.capabilities)}`)
    }
  })

  const approve = pending.command('approve').description('install a pending cartridge (verified again) and approve its capabilities').argument('<id>', 'the plugin id').option('--digest <sha256>', 'approve only if the queued manifest still has this digest (the one listed)')
  withFlags(approve).action(async (id: string, opts: PendingOptions) => {
    const p = await withNodeClient(clientOptions(opts), ({ cartridges }) => cartridges.approve(pluginId(id), { by: cliIdentity(), ...(opts.digest ? { digest: opts.digest } : {}) }))
    say(`installed ${p.id}@${p.version} (serial ${p.serial}) from ${p.origin} and approved its capabilities as ${cliIdentity()}; a running node picks it up at its next reload`)
  })

  const reject = pending.command('reject').description('drop a pending cartridge without installing it').argument('<id>', 'the plugin id').option('--reason <text>', 'why (recorded in the cartridge.refused event)')
  withFlags(reject).action(async (id: string, opts: PendingOptions) => {
    const p = await withNodeClient(clientOptions(opts), ({ cartridges }) => cartridges.reject(pluginId(id), { by: cliIdentity(), ...(opts.reason ? { reason: opts.reason } : {}) }))
    say(`rejected ${p.id}@${p.version} (serial ${p.serial}) from ${p.origin}`)
  })
}

function withFlags(cmd: Command): Command {
  addEnvOption(cmd, NATS_URL, 'NATS server URL')
  addEnvOption(cmd, MANIFESTS, 'manifests folder with the event catalog (the audit events are checked against it)')
  return addPluginFlags(cmd, ['plugins', 'trust', 'cluster', 'data'])
}

function clientOptions(opts: PendingOptions) {
  return { natsUrl: natsUrl(opts.nats), manifests: manifestsPath(opts.manifests), plugins: pluginSettingsFrom(opts) }
}

function pluginId(id: string): string {
  if (!isPluginId(id)) throw omniError('OMNI_ERR_CONFIG', `"${id}" is not a plugin id (like acme.shout)`)
  return id
}

/** Who decides from the CLI: the OS user running it, on this host (not a name the caller types). */
function cliIdentity(): string {
  return `cli:${userInfo().username}@${hostname()}`
}
