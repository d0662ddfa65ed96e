import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { parseDocument } from 'yaml'
import { omniError } from '../../../src/errors/mod.ts'
import { imageProblem, MANIFEST_FILE, openTrustStore, readSigningKey, signPlugin, type ManifestEdits, type SignedPlugin, type TrustStore } from '../../../src/plugins/mod.ts'
import { say } from '../../lib/output.ts'
import { parseExpiry, parseSerial } from '../../lib/parse.ts'
import { describeKey } from '../../lib/trust.ts'

interface SignOptions {
  key: string
  trust?: string
  image?: string
  serial?: number | 'next'
  expires?: string
}

/** `omni plugin sign`. */
export function registerSign(plugin: Command): void {
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
      const trust = opts.trust !== undefined ? await openTrustStore(resolve(opts.trust)) : undefined
      const edits: ManifestEdits = { ...(opts.serial !== undefined ? { serial: opts.serial } : {}), ...(opts.expires ? { expiresAt: opts.expires } : {}) }
      const signed = await withImage(folder, opts.image, () => signPlugin(folder, key, { ...(trust ? { trust } : {}), edits }))
      printSigned(signed, trust)
    })
}

/** What `sign` and `promote` print about the signed plugin. */
export function printSigned(s: SignedPlugin, trust: TrustStore | undefined): void {
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
