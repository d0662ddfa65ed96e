import { resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import { openPluginRegistry, openTrustStore, REGISTRY_BUCKET, verifyPlugin } from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom, type PluginCliOptions } from '../../lib/plugin-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { isPluginId } from '../../lib/parse.ts'
import { withNodeClient, withSession } from '../../lib/session.ts'

interface PublishOptions extends PluginCliOptions {
  nats?: string
  manifests?: string
  mesh?: boolean
  data: string
}

/** `omni plugin publish`. */
export function registerPublish(plugin: Command): void {
  const publish = plugin
    .command('publish')
    .summary('verify a plugin folder and publish it to the cluster registry')
    .description(
      `Verify a signed plugin folder and publish it to the cluster's registry (JetStream object store ${REGISTRY_BUCKET}) as <id>@<version>. ` +
        'Publishing the same version again needs a higher serial (e.g. after promote) or the identical manifest. ' +
        'With --mesh, publish the installed plugin <id> to the mesh instead: a public cartridge.published event carrying its signed bundle, which every peer verifies in full and handles by its sovereignty level (docs/mesh-cartridges.md).',
    )
    .argument('<dir|id>', 'the signed plugin folder; with --mesh, the id of an installed plugin (<plugins>/<id>)')
    .option('--mesh', 'publish the installed plugin <id> to the mesh as cartridge.published (the catalog in --manifests must declare it)')
  addEnvOption(publish, NATS_URL, 'NATS server URL')
  addEnvOption(publish, MANIFESTS, 'manifests folder with the event catalog (for --mesh)')
  addPluginFlags(publish, ['plugins', 'trust', 'cluster', 'data']).action(async (dir: string, opts: PublishOptions) => {
    const settings = pluginSettingsFrom(opts)
    if (opts.mesh) {
      if (!isPluginId(dir)) throw omniError('OMNI_ERR_CONFIG', `"${dir}" is not a plugin id (like acme.shout); --mesh publishes an installed plugin by its id`)
      const r = await withNodeClient({ natsUrl: natsUrl(opts.nats), manifests: manifestsPath(opts.manifests), plugins: settings }, ({ cartridges }) => cartridges.publish(dir))
      const p = r.plugin
      say(`${r.duplicate ? 'already published' : 'published'} ${p.id}@${p.version} to the mesh as ${r.type} (${r.subject} seq ${r.seq}): serial ${p.serial}, tier ${p.tier}, digest sha256:${p.digest}, key ${p.keyid}`)
      return
    }
    const trust = await openTrustStore(settings.trust)
    const v = await verifyPlugin(resolve(dir), trust, { cluster: settings.cluster })
    const entry = await withSession(natsUrl(opts.nats), async ({ js }) => (await openPluginRegistry(js)).publish(v))
    say(`published ${entry.name} to ${REGISTRY_BUCKET}: serial ${entry.serial}, tier ${entry.tier}, digest sha256:${entry.digest}, signer ${entry.signer}, ${entry.size} bytes`)
  })
}
