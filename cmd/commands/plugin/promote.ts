import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { parseDocument } from 'yaml'
import { MANIFEST_FILE, openTrustStore, promotePlugin, readSigningKey, type Tier } from '../../../src/plugins/mod.ts'
import { addPluginFlags, pluginSettingsFrom } from '../../lib/plugin-options.ts'
import { say } from '../../lib/output.ts'
import { parseExpiry, parseTier } from '../../lib/parse.ts'
import { printSigned } from './sign.ts'

interface PromoteOptions {
  tier: Tier
  key: string
  expires?: string
  trust?: string
  data: string
}

/** `omni plugin promote`. */
export function registerPromote(plugin: Command): void {
  const promote = plugin
    .command('promote')
    .summary('re-sign a signed plugin at a higher tier (serial + 1)')
    .description(
      'Promote a signed plugin to a higher tier (e.g. alpha → verified): the folder must verify as it is, then the manifest gets the new tier and serial + 1 and is re-signed with --key, which must be granted the new tier. ' +
        'The code files are not changed; re-publish and re-install it afterwards.',
    )
    .argument('<dir>', 'the signed plugin folder')
    .requiredOption('--tier <tier>', 'the new tier, above the current one: community, private, verified, core', parseTier('--tier'))
    .requiredOption('--key <file>', 'the private key to re-sign with; it must be trusted for the new tier')
    .option('--expires <when>', 'a new expiresAt: a duration from now (90d, 52w, 2y), a date or a timestamp', parseExpiry('--expires'))
  addPluginFlags(promote, ['trust', 'data']).action(async (dir: string, opts: PromoteOptions) => {
    const folder = resolve(dir)
    const key = await readSigningKey(resolve(opts.key))
    const trust = await openTrustStore(pluginSettingsFrom({ trust: opts.trust, data: opts.data }).trust)
    const before = await readManifestTier(folder)
    const signed = await promotePlugin(folder, key, { tier: opts.tier, trust, ...(opts.expires ? { expiresAt: opts.expires } : {}) })
    say(`promoted ${signed.manifest.id}@${signed.manifest.version}${before ? ` from tier ${before}` : ''} to tier ${signed.manifest.tier}`)
    printSigned(signed, trust)
  })
}

/** The tier plugin.yaml names now (for the message only; the promotion itself verifies the envelope). */
async function readManifestTier(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined)
  const tier = text === undefined ? undefined : (parseDocument(text).get('tier') as unknown)
  return typeof tier === 'string' ? tier : undefined
}
