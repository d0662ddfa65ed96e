import type { Command } from 'commander'
import {
  installFromRegistry,
  openApprovals,
  openHighWaterMarks,
  openPluginRegistry,
  widenedCapabilities,
  type Approvals,
  type HighWaterResult,
  type VerifiedPlugin,
} from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { parsePluginRef } from '../../lib/parse.ts'
import { withSession } from '../../lib/session.ts'
import { describeKey, openTrust } from '../../lib/trust.ts'

interface InstallOptions extends PluginCliOptions {
  nats?: string
  data: string
}

/** `omni plugin install`. */
export function registerInstall(plugin: Command): void {
  const install = plugin
    .command('install')
    .summary('install <id>@<version> from the registry into <plugins>/<id>')
    .description(
      'Install <id>@<version> from the registry into <plugins>/<id>: fetched, verified against the trust store, checked against the cluster\'s high-water mark (recording a newer serial, refusing a rollback), then moved into place. ' +
        'A refused plugin leaves the folder as it was. Prints whether its capabilities still need `omni plugin approve`.',
    )
    .argument('<id@version>', 'the plugin and version, e.g. acme.shout@1.0.0')
  addEnvOption(install, NATS_URL, 'NATS server URL')
  addPluginFlags(install, ['plugins', 'trust', 'cluster', 'data']).action(async (ref: string, opts: InstallOptions) => {
    const { id, version } = parsePluginRef(ref, 'plugin')
    const settings = pluginSettingsFrom(opts)
    const trust = await openTrust(settings.trust)
    await withSession(natsUrl(opts.nats), async ({ js }) => {
      const target = { id, version, pluginsDir: settings.dir, trust, verify: { cluster: settings.cluster } }
      const { plugin: v, highWater: mark } = await installFromRegistry(await openPluginRegistry(js), target, await openHighWaterMarks(js))
      const m = v.manifest
      say(`installed ${m.id}@${m.version} into ${v.dir}`)
      say(`  serial ${m.serial}, tier ${m.tier}, runtime ${m.runtime}, digest sha256:${v.digest}`)
      say(`  signed by ${describeKey(trust, v.keyid)}`)
      say(`  high-water: ${highWater(mark)}`)
      say(`  approval: ${await approvalState(await openApprovals(js), v)}`)
    })
  })
}

function highWater(r: HighWaterResult): string {
  switch (r.type) {
    case 'first':
      return `serial ${r.mark.serial} recorded, the first seen for this id`
    case 'newer':
      return `serial ${r.mark.serial} recorded (was ${r.previous.serial}); older serials are refused from now on`
    case 'same':
      return `serial ${r.mark.serial} with this digest was already recorded`
  }
}

async function approvalState(approvals: Approvals, v: VerifiedPlugin): Promise<string> {
  const approved = await approvals.get(v.manifest.id)
  const fix = `run \`omni plugin approve ${v.manifest.id} --by <name>\` after reviewing it`
  if (!approved) return `none yet; it does not run until approved: ${fix}`
  const widened = widenedCapabilities(v, approved)
  if (widened.length === 0) return `approved by ${approved.approvedBy} (version ${approved.version}, serial ${approved.serial})`
  return `needed again, it asks for more than approved (${widened.join('; ')}): ${fix}`
}
