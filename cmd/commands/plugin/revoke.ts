import { resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../../src/errors/mod.ts'
import { getCartridge } from '../../../src/cartridges/mod.ts'
import { localPlugins, revokedUses } from '../../../src/node/mod.ts'
import { DEFAULT_YANK_REASON, REVOCATIONS_DAYS, type TrustStore } from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom } from '../../lib/plugin-options.ts'
import { addEnvOption, MANIFESTS, manifestsPath, NATS_URL, natsUrl } from '../../lib/options.ts'
import { say } from '../../lib/output.ts'
import { parseExpiry, parsePluginRef } from '../../lib/parse.ts'
import { withNodeClient } from '../../lib/session.ts'

interface RevokeOptions {
  key: string[]
  yank: string[]
  reason: string
  rootKey: string
  expires?: string
  trust?: string
  plugins?: string
  manifests?: string
  mesh?: boolean
  nats?: string
  data: string
}

const KEYID = /^[0-9a-f]{32}$/

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/** `omni plugin revoke`: adds revoked keys or yanked versions to the signed revocation list. */
export function registerRevoke(plugin: Command): void {
  const cmd = plugin
    .command('revoke')
    .summary('revoke keys or yank versions in the signed revocation list')
    .description(
      'Revoke signing keys or yank plugin versions: re-signs <trust>/revocations.dsse.json with a root key, keeping every earlier entry. ' +
        'A revoked key (or any key granted by a revoked root) and a yanked version fail verification with OMNI_ERR_PLUGIN_REVOKED. ' +
        'Without --key or --yank the list is re-signed unchanged with a new expiry (do this before it expires: an expired list refuses every plugin).',
    )
    .option('--key <keyid>', 'revoke this key id (32 hex characters, as keygen and verify print it); repeatable', collect, [])
    .option('--yank <id@version>', 'yank this plugin version, e.g. acme.shout@1.0.0; repeatable', collect, [])
    .option('--reason <text>', 'why the versions are yanked (shown when one is refused)', DEFAULT_YANK_REASON)
    .requiredOption('--root-key <file>', 'private key of a root of the trust store, which signs the new list')
    .option('--expires <when>', `when the new list expires (default ${REVOCATIONS_DAYS}d): a duration (90d, 12h, 52w, 2y), a date or a timestamp`, parseExpiry('--expires'))
    .option('--mesh', 'also publish the new list to the mesh as cartridge.revoked (through the node at --nats): every peer verifies it against its own roots and adopts it when newer')
  addEnvOption(cmd, MANIFESTS, 'the pipelines checked for stages that use a plugin this revokes (and, with --mesh, the event catalog)')
  addEnvOption(cmd, NATS_URL, 'NATS server URL (for --mesh)')
  addPluginFlags(cmd, ['trust', 'plugins', 'data']).action(async (opts: RevokeOptions) => {
    const yanks = opts.yank.map((y) => parsePluginRef(y, '--yank'))
    for (const k of opts.key) {
      if (!KEYID.test(k)) throw omniError('OMNI_ERR_CONFIG', `--key "${k}" is not a key id: 32 lower-case hex characters (keygen and verify print them)`)
    }
    if (opts.reason.trim() === '') throw omniError('OMNI_ERR_CONFIG', '--reason must not be empty')
    // only the trust store is touched: no cluster connection; the plugins folder and the pipelines are only read
    const plugins = localPlugins(pluginSettingsFrom({ trust: opts.trust, plugins: opts.plugins, data: opts.data }))
    const { list, file, entries, trust, root } = await plugins.updateRevocations({
      keys: opts.key,
      yanks,
      reason: opts.reason,
      rootKey: { file: resolve(opts.rootKey) },
      ...(opts.expires !== undefined ? { expiresAt: opts.expires } : {}),
    })
    for (const e of entries) {
      if (e.type === 'key') say(e.added ? `revoked  key ${e.keyid}${knownAs(trust, e.keyid)}` : `key ${e.keyid} was already revoked`)
      else say(e.added ? `yanked   ${e.id}@${e.version}: ${e.reason}` : `${e.id}@${e.version} was already yanked`)
    }
    const { revokedKeys, yanked } = list
    say(`wrote ${file}: ${revokedKeys.length} revoked key(s), ${yanked.length} yanked version(s), signed by root ${root}, expires ${list.expiresAt}`)
    const manifests = manifestsPath(opts.manifests)
    // the list is written by now: a folder that cannot be read only leaves this check out
    const affected = await revokedUses(plugins, manifests, getCartridge).catch((err: unknown) => {
      say(`could not check the pipelines in ${manifests} for stages that use what this revokes: ${err instanceof Error ? err.message : String(err)}`)
      return []
    })
    for (const a of affected) {
      const effect = a.additive ? 'additive: the failure is recorded, the event goes on' : 'its events are retried, then dead-lettered with OMNI_ERR_PLUGIN_REVOKED'
      say(`stops    pipeline ${a.pipeline}, stage ${a.stage} (plugin ${a.plugin}): ${effect}`)
    }
    say(affected.length > 0 ? 'a running node stops these at its next reload' : `no pipeline in ${manifests} uses an installed plugin this revokes`)
    if (opts.mesh) {
      const settings = pluginSettingsFrom({ trust: opts.trust, plugins: opts.plugins, data: opts.data })
      const r = await withNodeClient({ natsUrl: natsUrl(opts.nats), manifests, plugins: settings }, ({ cartridges }) => cartridges.publishRevocations())
      say(`${r.duplicate ? 'already published' : 'published'} the list issued ${r.issuedAt} to the mesh as ${r.type} (${r.subject} seq ${r.seq})`)
    }
  })
}

function knownAs(trust: TrustStore, keyid: string): string {
  const key = trust.key(keyid)
  if (!key) return ` (not a key of ${trust.dir}; it stays refused if it is ever granted)`
  return key.kind === 'root' ? ` (root "${key.name}": every grant it signed is refused too)` : ` (publisher "${key.name}")`
}
