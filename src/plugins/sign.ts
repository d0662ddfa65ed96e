import { join } from 'node:path'
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml'
import { omniError } from '../errors/mod.ts'
import { writeAtomically } from '../util/atomic-write.ts'
import { hashBundleFiles, sha256Hex } from './bundle-files.ts'
import { encodeEnvelope, MAX_ENVELOPE_BYTES, PAYLOAD_TYPES, signEnvelope, type SigningKey } from './dsse.ts'
import { parsePluginManifest } from './manifest.ts'
import type { PluginManifest } from './manifest-schema.ts'
import { bundlePathProblem, ENVELOPE_FILE, MANIFEST_FILE } from './paths.ts'
import { readCapped } from './read.ts'
import type { Tier } from './tiers.ts'
import type { TrustStore } from './trust.ts'

/** Changes made to `plugin.yaml` before it is signed (comments and layout are kept). */
export interface ManifestEdits {
  readonly tier?: Tier
  /** a new serial, or `next` for the current one plus one */
  readonly serial?: number | 'next'
  readonly issuedAt?: string
  readonly expiresAt?: string
}

export interface SignOptions {
  /** when given, the key must be trusted for the manifest's tier; checked before anything is written */
  readonly trust?: TrustStore
  readonly now?: Date
  readonly edits?: ManifestEdits
}

/** What signing wrote. */
export interface SignedPlugin {
  readonly manifest: PluginManifest
  /** sha256 hex of the signed manifest bytes */
  readonly digest: string
  readonly keyid: string
  readonly manifestFile: string
  readonly envelopeFile: string
}

/** A signature made but not yet written. */
export interface PreparedSignature extends SignedPlugin {
  readonly manifestBytes: Buffer
  readonly envelopeBytes: Buffer
}

/**
 * Signs a plugin folder: fills in (or corrects) the size and sha256 of every file listed in
 * `plugin.yaml` (entries may list only a path), checks the whole manifest, then writes the updated
 * `plugin.yaml` and `plugin.dsse.json`. Refuses links, missing, extra and non-regular files.
 */
export async function signPlugin(dir: string, key: SigningKey, opts: SignOptions = {}): Promise<SignedPlugin> {
  const prepared = await prepareSignature(dir, key, opts)
  await writeSignature(prepared)
  const { manifestBytes: _m, envelopeBytes: _e, ...signed } = prepared
  return signed
}

/** Everything `signPlugin` does except writing, so a caller can inspect the result first. */
export async function prepareSignature(dir: string, key: SigningKey, opts: SignOptions = {}): Promise<PreparedSignature> {
  const manifestFile = join(dir, MANIFEST_FILE)
  const text = await readManifestText(manifestFile)
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false })
  // the manifest parser reports syntax errors with file:line:col; a document with errors fails there
  if (doc.errors.length > 0) parsePluginManifest(text, manifestFile)
  applyEdits(doc, opts.edits ?? {}, manifestFile)
  const paths = listedPaths(doc, manifestFile)
  for (const [i, file] of (await hashBundleFiles(dir, paths)).entries()) {
    const item = doc.getIn(['entry', 'files', i], true)
    if (isMap(item)) {
      item.set('size', file.size)
      item.set('sha256', file.sha256)
    } else {
      // a path-only entry becomes a map; its comments move along with it
      const map = doc.createNode(file)
      if (isScalar(item)) Object.assign(map, { commentBefore: item.commentBefore, comment: item.comment })
      doc.setIn(['entry', 'files', i], map)
    }
  }
  const manifestBytes = Buffer.from(doc.toString({ lineWidth: 0 }), 'utf8')
  const manifest = parsePluginManifest(manifestBytes, manifestFile)
  const now = opts.now ?? new Date()
  if (now.getTime() >= Date.parse(manifest.expiresAt)) {
    throw omniError('OMNI_ERR_PLUGIN_EXPIRED', `${manifestFile}: expiresAt ${manifest.expiresAt} is already past (now ${now.toISOString()}); set a later expiresAt before signing`)
  }
  opts.trust?.authorize(key.keyid, manifest, now)
  const envelopeBytes = encodeEnvelope(signEnvelope(PAYLOAD_TYPES.manifest, manifestBytes, key))
  if (envelopeBytes.byteLength > MAX_ENVELOPE_BYTES) {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${manifestFile} is too large to sign: its envelope would be ${envelopeBytes.byteLength} bytes, over the ${MAX_ENVELOPE_BYTES}-byte limit`)
  }
  return { manifest, digest: sha256Hex(manifestBytes), keyid: key.keyid, manifestFile, envelopeFile: join(dir, ENVELOPE_FILE), manifestBytes, envelopeBytes }
}

/** Writes a prepared signature: plugin.yaml first, then the envelope, each replaced atomically. */
export async function writeSignature(p: PreparedSignature): Promise<void> {
  await writeAtomically(p.manifestFile, p.manifestBytes, { mode: 0o644 })
  await writeAtomically(p.envelopeFile, p.envelopeBytes, { mode: 0o644 })
}

async function readManifestText(file: string): Promise<string> {
  const read = await readCapped(file, { maxBytes: MAX_ENVELOPE_BYTES, noFollow: true })
  if (read.type === 'ok') return read.bytes.toString('utf8')
  const why = { missing: 'is missing; a plugin folder to sign needs one', symlink: 'is a symbolic link', 'not-file': 'is not a regular file', 'too-large': `is over ${MAX_ENVELOPE_BYTES} bytes` }
  throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file} ${why[read.type]}`)
}

/** The paths of entry.files, each either a plain path or a `{ path, … }` map; checked before any file is read. */
function listedPaths(doc: Document, file: string): string[] {
  const files = doc.getIn(['entry', 'files'], true)
  if (!isSeq(files)) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file}: entry.files must list the plugin's files (a path each)`)
  return files.items.map((item, i) => {
    const node = isMap(item) ? item.get('path', true) : item
    const path = isScalar(node) ? node.value : undefined
    if (typeof path !== 'string') throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file}: entry.files[${i}] must be a path or { path }`)
    const why = bundlePathProblem(path)
    if (why) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file}: entry.files[${i}].path ${why}`)
    return path
  })
}

function applyEdits(doc: Document, edits: ManifestEdits, file: string): void {
  if (edits.tier !== undefined) doc.set('tier', edits.tier)
  if (edits.serial !== undefined) {
    const current = doc.get('serial')
    if (edits.serial === 'next' && typeof current !== 'number') throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${file}: serial must be a number to raise it`)
    doc.set('serial', edits.serial === 'next' ? (current as number) + 1 : edits.serial)
  }
  if (edits.issuedAt !== undefined) doc.set('issuedAt', edits.issuedAt)
  if (edits.expiresAt !== undefined) doc.set('expiresAt', edits.expiresAt)
}
