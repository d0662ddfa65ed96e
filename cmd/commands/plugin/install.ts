import { join } from 'node:path'
import type { Command } from 'commander'
import type { Static } from 'typebox'
import type { PluginContracts, PluginService } from '../../../src/node/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { parsePluginRef } from '../../lib/parse.ts'
import { withNodeClient } from '../../lib/session.ts'
import { describeKey } from '../../lib/trust.ts'

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
    await withNodeClient({ natsUrl: natsUrl(opts.nats), plugins: settings }, async ({ plugins }) => {
      const trust = await plugins.trust()
      const { plugin: m, highWater: mark, approval } = await plugins.install({ id, version })
      say(`installed ${m.id}@${m.version} into ${join(settings.dir, m.id)}`)
      say(`  serial ${m.serial}, tier ${m.tier}, runtime ${m.runtime}, digest sha256:${m.digest}`)
      say(`  signed by ${describeKey(trust, m.keyid)}`)
      say(`  high-water: ${highWater(mark)}`)
      say(`  approval: ${await approvalState(plugins, m.id, approval)}`)
    })
  })
}

type Installed = Static<typeof PluginContracts.InstallResponse>

function highWater(r: Installed['highWater']): string {
  switch (r.type) {
    case 'first':
      return `serial ${r.serial} recorded, the first seen for this id`
    case 'newer':
      return `serial ${r.serial} recorded (was ${r.previous}); older serials are refused from now on`
    case 'same':
      return `serial ${r.serial} with this digest was already recorded`
  }
}

async function approvalState(plugins: PluginService, id: string, approval: Installed['approval']): Promise<string> {
  const fix = `run \`omni plugin approve ${id}\` after reviewing it`
  if (approval.state === 'approved') {
    // the answer names the approver; the review adds the version and serial approved
    const { previous } = await plugins.review(id)
    return `approved by ${approval.by}${previous ? ` (version ${previous.version}, serial ${previous.serial})` : ''}`
  }
  if (approval.state === 'widened') return `needed again, it asks for more than approved (${approval.widened?.join('; ')}): ${fix}`
  return `none yet; it does not run until approved: ${fix}`
}
