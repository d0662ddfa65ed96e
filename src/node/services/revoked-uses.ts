import { loadManifests } from '../../manifests/load.ts'
import { pluginCartridge, pluginIdOf } from '../../pipeline/plugin-stage.ts'
import type { Cartridge } from '../../pipeline/stage.ts'
import type { CartridgeLookup } from '../../pipeline/stage-builder.ts'
import { stagesUsing, type AffectedStage, type PluginService } from './plugins.ts'

/**
 * For a process beside the node (the CLI), which cannot reload it: the stages of the pipelines in
 * `manifests` that use an installed plugin the trust store now refuses as revoked, i.e. what a node
 * running those manifests stops at its next reload. Pipelines that do not compile for another
 * reason are not looked at.
 */
export async function revokedUses(plugins: PluginService, manifests: string, base: CartridgeLookup): Promise<AffectedStage[]> {
  const rows = await plugins.installed({ approvals: false })
  const revoked = new Map(rows.flatMap((r) => (r.error?.code === 'OMNI_ERR_PLUGIN_REVOKED' ? [[r.id, r.additive === true] as const] : [])))
  if (revoked.size === 0) return []
  // the revoked plugins stand in as stages that are never run: only which stage uses which is read
  const lookup: CartridgeLookup = (id) => {
    const plugin = pluginIdOf(id)
    if (plugin === undefined || !revoked.has(plugin)) return base(id)
    const never = () => Promise.reject(new Error(`plugin ${plugin} is revoked`))
    return pluginCartridge({ plugin, description: `revoked plugin ${plugin}`, additive: revoked.get(plugin) ?? false, tenants: ['*'], emit: [], instance: never }) as Cartridge
  }
  const loaded = await loadManifests(manifests, lookup)
  return stagesUsing(loaded.pipelines, new Set(revoked.keys()))
}
