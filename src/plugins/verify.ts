import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { omniError } from '../errors/mod.ts'
import type { PluginCode } from '../sandbox/types.ts'
import { sha256Hex, readBundleFiles } from './bundle-files.ts'
import { MAX_ENVELOPE_BYTES, openEnvelope, PAYLOAD_TYPES } from './dsse.ts'
import { parsePluginManifest, sandboxLimits } from './manifest.ts'
import type { PluginManifest } from './manifest-schema.ts'
import { ENVELOPE_FILE, MANIFEST_FILE } from './paths.ts'
import { readCapped } from './read.ts'
import type { TrustStore } from './trust.ts'

/** A plugin whose signature, trust, dates, audience and every file's bytes were checked. */
export interface VerifiedPlugin {
  readonly manifest: PluginManifest
  /** sha256 hex of the signed manifest bytes (the envelope's payload) */
  readonly digest: string
  readonly dir: string
  /** path → the exact bytes verified; run these, never a re-read of the folder */
  readonly files: ReadonlyMap<string, Buffer>
  /** the entry file (`manifest.entry.main`) as text */
  readonly source: string
  /** key id of the signing key */
  readonly keyid: string
  /** name of the signing key (root file name or grant name) */
  readonly signer: string
  /** the envelope file's exact bytes, for publishing */
  readonly envelope: Buffer
}

export interface VerifyOptions {
  /** the clock the dates are checked against (default: now) */
  readonly now?: Date
  /** this cluster's name; it must be in the manifest's audience (or the audience is `*`) */
  readonly cluster: string
  /** when set, the tenant must be in the manifest's audience too */
  readonly tenant?: string
}

/**
 * Verifies a plugin folder against a trust store. There is deliberately no option to skip any
 * check or to load an unsigned plugin: a folder without `plugin.dsse.json` is always refused.
 */
export async function verifyPlugin(dir: string, trust: TrustStore, opts: VerifyOptions): Promise<VerifiedPlugin> {
  return verifyBundle(dir, trust, opts.now ?? new Date(), opts)
}

/** The bytes a sandbox needs to run a verified plugin. */
export function pluginCode(v: VerifiedPlugin): PluginCode {
  const m = v.manifest
  return { id: m.id, version: m.version, dir: v.dir, main: m.entry.main, source: v.source, limits: sandboxLimits(m.capabilities), ...(m.image ? { image: m.image } : {}) }
}

/**
 * Every check of `verifyPlugin`; `audience` is left out only by re-signing (`promotePlugin`), which
 * prepares a plugin for other clusters than its own.
 */
export async function verifyBundle(dir: string, trust: TrustStore, now: Date, audience: VerifyOptions | undefined): Promise<VerifiedPlugin> {
  const info = await lstat(dir).catch(() => undefined)
  if (!info?.isDirectory()) {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin folder ${dir} ${info?.isSymbolicLink() ? 'is a symbolic link; the plugin folder itself must be a real folder' : info ? 'is not a folder' : 'does not exist'}`)
  }
  const envelopeFile = join(dir, ENVELOPE_FILE)
  const envelope = await readEnvelope(dir, envelopeFile)
  const opened = openEnvelope(envelope, { source: envelopeFile, payloadType: PAYLOAD_TYPES.manifest, keys: (id) => trust.key(id)?.publicKey })
  const manifest = parsePluginManifest(opened.payload, `${envelopeFile}#payload`)
  const signed = `${manifest.id}@${manifest.version}`
  const key = trust.authorize(opened.keyid, manifest, now)
  if (now.getTime() < Date.parse(manifest.issuedAt)) {
    throw omniError('OMNI_ERR_PLUGIN_EXPIRED', `${signed} is not valid yet: issuedAt ${manifest.issuedAt} is after now (${now.toISOString()})`)
  }
  if (now.getTime() >= Date.parse(manifest.expiresAt)) {
    throw omniError('OMNI_ERR_PLUGIN_EXPIRED', `${signed} expired at ${manifest.expiresAt} (now ${now.toISOString()}); the publisher must re-sign it`)
  }
  if (audience) checkAudience(manifest, audience)
  await checkReadableCopy(dir, opened.payload, signed)
  const files = await readBundleFiles(dir, manifest.entry.files, signed)
  const main = files.get(manifest.entry.main) as Buffer
  return Object.freeze({
    manifest,
    digest: sha256Hex(opened.payload),
    dir,
    files,
    source: decodeSource(main, join(dir, manifest.entry.main)),
    keyid: key.keyid,
    signer: key.name,
    envelope,
  })
}

async function readEnvelope(dir: string, file: string): Promise<Buffer> {
  const read = await readCapped(file, { maxBytes: MAX_ENVELOPE_BYTES, noFollow: true })
  switch (read.type) {
    case 'ok':
      return read.bytes
    case 'missing':
      throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `unsigned plugin: ${dir} has no ${ENVELOPE_FILE}; there is no way to load an unsigned plugin (sign it with \`omni plugin sign\`)`)
    case 'too-large':
      throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${file} is ${read.size} bytes, over the ${MAX_ENVELOPE_BYTES}-byte limit for envelopes; refused before parsing`)
    case 'symlink':
      throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${file} is a symbolic link; bundles may not contain links`)
    case 'not-file':
      throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${file} is not a regular file`)
  }
}

function checkAudience(m: PluginManifest, opts: VerifyOptions): void {
  const allows = (list: readonly string[], name: string) => list.includes('*') || list.includes(name)
  if (!allows(m.audience.clusters, opts.cluster)) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${m.id}@${m.version} is not signed for cluster "${opts.cluster}"; its audience.clusters is [${m.audience.clusters.join(', ')}]`)
  }
  if (opts.tenant !== undefined && !allows(m.audience.tenants, opts.tenant)) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${m.id}@${m.version} is not signed for tenant "${opts.tenant}"; its audience.tenants is [${m.audience.tenants.join(', ')}]`)
  }
}

/** `plugin.yaml` is optional, but when present it must be exactly the signed bytes, so nobody reads a different manifest. */
async function checkReadableCopy(dir: string, payload: Buffer, signed: string): Promise<void> {
  const file = join(dir, MANIFEST_FILE)
  const read = await readCapped(file, { maxBytes: MAX_ENVELOPE_BYTES, noFollow: true })
  if (read.type === 'missing' || (read.type === 'ok' && read.bytes.equals(payload))) return
  const why = read.type === 'symlink' ? 'is a symbolic link; bundles may not contain links' : read.type === 'not-file' ? 'is not a regular file' : `differs from the manifest signed in ${ENVELOPE_FILE} (${signed}); re-sign the plugin or delete ${MANIFEST_FILE}`
  throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file} ${why}`)
}

function decodeSource(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (cause) {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file} (entry.main) is not valid UTF-8 text`, { cause })
  }
}
