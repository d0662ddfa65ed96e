import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { parseDocument } from 'yaml'
import { omniError } from '../../src/errors/mod.ts'
import {
  imageProblem,
  MANIFEST_FILE,
  promotePlugin,
  readSigningKey,
  signPlugin,
  type ManifestEdits,
  type SignedPlugin,
  type Tier,
  type TrustStore,
} from '../../src/plugins/mod.ts'
import { addPluginFlags } from './plugin-flags.ts'
import { pluginSettingsFrom } from './plugin-options.ts'
import { describeKey, openTrust, parseExpiry, parseSerial, parseTier, say } from './plugin-shared.ts'

interface SignOptions {
  key: string
  trust?: string
  image?: string
  serial?: number | 'next'
  expires?: string
}

interface PromoteOptions {
  tier: Tier
  key: string
  expires?: string
  trust?: string
  data: string
}

/** `omni plugin sign` and `omni plugin promote`. */
export function registerSigning(plugin: Command): void {
  plugin
    .command('sign')
    .summary('fill in the file digests and sign plugin.yaml (writes plugin.dsse.json)')
    .description(
      'Sign a plugin folder: fill in the size and sha256 of every file plugin.yaml lists, check the manifest, and write plugin.yaml and plugin.dsse.json (DSSE, ed25519). ' +
        'Prints id, version, serial, digest and key id. Re-signing a changed plugin needs a higher serial (--serial next), or nodes refuse it as a rollback.',
    )
    .argument('<dir>', 'the plugin folder (plugin.yaml and its code files)')
    .requiredOption('--key <file>', 'the private key to sign with (from `omni plugin keygen`)')
    .option('--trust <dir>', 'check the key is trusted for the plugin\'s tier in this trust store before anything is written (no check without it)')
    .option('--image <ref>', 'set the manifest\'s image (container plugins; name@sha256:<64 hex>, as `omni plugin image build` prints it)')
    .option('--serial <next|n>', 'set the serial: "next" for the current one plus one, or a number', parseSerial)
    .option('--expires <when>', 'set expiresAt: a duration from now (90d, 52w, 2y), a date or a timestamp', parseExpiry('--expires'))
    .action(async (dir: string, opts: SignOptions) => {
      const folder = resolve(dir)
      const key = await readSigningKey(resolve(opts.key))
      const trust = opts.trust !== undefined ? await openTrust(resolve(opts.trust)) : undefined
      const edits: ManifestEdits = { ...(opts.serial !== undefined ? { serial: opts.serial } : {}), ...(opts.expires ? { expiresAt: opts.expires } : {}) }
      const signed = await withImage(folder, opts.image, () => signPlugin(folder, key, { ...(trust ? { trust } : {}), edits }))
      printSigned(signed, trust)
    })

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
    const trust = await openTrust(pluginSettingsFrom({ trust: opts.trust }, opts.data).trust)
    const before = await readManifestTier(folder)
    const signed = await promotePlugin(folder, key, { tier: opts.tier, trust, ...(opts.expires ? { expiresAt: opts.expires } : {}) })
    say(`promoted ${signed.manifest.id}@${signed.manifest.version}${before ? ` from tier ${before}` : ''} to tier ${signed.manifest.tier}`)
    printSigned(signed, trust)
  })
}

function printSigned(s: SignedPlugin, trust: TrustStore | undefined): void {
  const m = s.manifest
  say(`id       ${m.id}`)
  say(`version  ${m.version}`)
  say(`serial   ${m.serial}`)
  say(`tier     ${m.tier} (runtime ${m.runtime})`)
  say(`digest   sha256:${s.digest}`)
  say(`keyid    ${s.keyid}`)
  say(`signer   ${trust ? describeKey(trust, s.keyid) : 'not checked against a trust store (pass --trust to check)'}`)
  say(`expires  ${m.expiresAt}`)
  say(`wrote    ${s.manifestFile}, ${s.envelopeFile}`)
}

/**
 * Sets `image` in plugin.yaml (comments and layout kept) for the signing, and puts the file back
 * as it was when signing fails, so a refused signature leaves the folder unchanged.
 */
async function withImage(dir: string, image: string | undefined, sign: () => Promise<SignedPlugin>): Promise<SignedPlugin> {
  if (image === undefined) return sign()
  const why = imageProblem(image)
  if (why) throw omniError('OMNI_ERR_CONFIG', `--image ${why}`)
  const file = join(dir, MANIFEST_FILE)
  const original = await readFile(file, 'utf8').catch((cause: unknown) => {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `cannot read ${file}: ${(cause as Error).message}`, { cause })
  })
  const doc = parseDocument(original, { uniqueKeys: true })
  if (doc.errors.length > 0) return sign() // the signer reports the syntax error with its position
  doc.set('image', image)
  await writeFile(file, doc.toString({ lineWidth: 0 }))
  try {
    return await sign()
  } catch (err) {
    await writeFile(file, original)
    throw err
  }
}

/** The tier plugin.yaml names now (for the message only; the promotion itself verifies the envelope). */
async function readManifestTier(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, MANIFEST_FILE), 'utf8').catch(() => undefined)
  const tier = text === undefined ? undefined : (parseDocument(text).get('tier') as unknown)
  return typeof tier === 'string' ? tier : undefined
}
