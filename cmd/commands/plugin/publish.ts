import { resolve } from 'node:path'
import type { Command } from 'commander'
import { openPluginRegistry, openTrustStore, REGISTRY_BUCKET, verifyPlugin } from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { addEnvOption, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { withSession } from '../../lib/session.ts'

interface PublishOptions extends PluginCliOptions {
  nats?: string
  data: string
}

/** `omni plugin publish`. */
export function registerPublish(plugin: Command): void {
  const publish = plugin
    .command('publish')
    .summary('verify a plugin folder and publish it to the cluster registry')
    .description(
      `Verify a signed plugin folder and publish it to the cluster's registry (JetStream object store ${REGISTRY_BUCKET}) as <id>@<version>. ` +
        'Publishing the same version again needs a higher serial (e.g. after promote) or the identical manifest.',
    )
    .argument('<dir>', 'the signed plugin folder')
  addEnvOption(publish, NATS_URL, 'NATS server URL')
  addPluginFlags(publish, ['trust', 'cluster', 'data']).action(async (dir: string, opts: PublishOptions) => {
    const settings = pluginSettingsFrom(opts)
    const trust = await openTrustStore(settings.trust)
    const v = await verifyPlugin(resolve(dir), trust, { cluster: settings.cluster })
    const entry = await withSession(natsUrl(opts.nats), async ({ js }) => (await openPluginRegistry(js)).publish(v))
    say(`published ${entry.name} to ${REGISTRY_BUCKET}: serial ${entry.serial}, tier ${entry.tier}, digest sha256:${entry.digest}, signer ${entry.signer}, ${entry.size} bytes`)
  })
}
