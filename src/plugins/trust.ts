import type { KeyObject } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { omniError, type OmniErrorCode } from '../errors/mod.ts'
import { MAX_ENVELOPE_BYTES, openEnvelope, PAYLOAD_TYPES } from './dsse.ts'
import { parseKeyGrant } from './grants.ts'
import { keyIdOf, parsePublicKey, readPublicKey } from './keys.ts'
import type { PluginManifest } from './manifest-schema.ts'
import { readCapped } from './read.ts'
import { parseRevocationList, REVOCATIONS_FILE, type RevocationList } from './revocations.ts'
import { tierAllows, type Tier } from './tiers.ts'

/** A key the trust store knows: a root (`roots/*.pub`) or a publisher granted by a root. */
export interface TrustedKey {
  readonly keyid: string
  /** root file name without `.pub`, or the grant's name */
  readonly name: string
  readonly kind: 'root' | 'publisher'
  readonly publicKey: KeyObject
  /** highest tier it may sign; `core` for roots */
  readonly maxTier: Tier
  /** publishers only: when the grant ends */
  readonly expiresAt?: string
  /** publishers only: key id of the root that signed the grant */
  readonly grantedBy?: string
  /** the file it was loaded from */
  readonly source: string
}

/** A loaded trust store: every grant and the revocation list already verified against the roots. */
export interface TrustStore {
  readonly dir: string
  readonly roots: readonly TrustedKey[]
  readonly publishers: readonly TrustedKey[]
  /** undefined when the store has no revocation list (then every plugin is refused) */
  readonly revocations: RevocationList | undefined
  key(keyid: string): TrustedKey | undefined
  /**
   * Whether `keyid` may sign `manifest` at `now`: a fresh revocation list exists, neither the key
   * nor the root that granted it is revoked, its grant has not expired, its tier covers the
   * manifest's, and the version is not yanked. Returns the key or throws the reason.
   */
  authorize(keyid: string, manifest: PluginManifest, now: Date): TrustedKey
}

/**
 * Loads a trust store folder: `roots/*.pub`, `publishers/*.dsse.json` (grants signed by a root)
 * and `revocations.dsse.json`. A grant or list that fails to verify makes the whole load fail:
 * a tampered trust store is fixed by an operator, not worked around.
 */
export async function loadTrustStore(dir: string): Promise<TrustStore> {
  const roots = await loadRoots(dir)
  const rootKeys = (keyid: string) => roots.find((r) => r.keyid === keyid)?.publicKey
  const publishers: TrustedKey[] = []
  for (const file of await listFiles(join(dir, 'publishers'), '.dsse.json')) {
    const bytes = await readEnvelope(file, 'OMNI_ERR_PLUGIN_UNTRUSTED')
    if (!bytes) continue // removed since the folder was listed
    const opened = openEnvelope(bytes, { source: file, payloadType: PAYLOAD_TYPES.keyGrant, keys: rootKeys })
    const grant = parseKeyGrant(opened.payload, file)
    const clash = [...roots, ...publishers].find((k) => k.keyid === grant.keyid)
    if (clash) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${file} grants key ${grant.keyid}, which ${clash.source} already defines; remove one of them`)
    publishers.push({
      keyid: grant.keyid,
      name: grant.name,
      kind: 'publisher',
      publicKey: parsePublicKey(grant.publicKey, file),
      maxTier: grant.maxTier,
      expiresAt: grant.expiresAt,
      grantedBy: opened.keyid,
      source: file,
    })
  }
  const revocationsFile = join(dir, REVOCATIONS_FILE)
  const revBytes = await readEnvelope(revocationsFile, 'OMNI_ERR_PLUGIN_REVOKED')
  const revocations = revBytes && parseRevocationList(openEnvelope(revBytes, { source: revocationsFile, payloadType: PAYLOAD_TYPES.revocations, keys: rootKeys }).payload, revocationsFile)
  return createTrustStore(dir, roots, publishers, revocations)
}

function createTrustStore(dir: string, roots: TrustedKey[], publishers: TrustedKey[], revocations: RevocationList | undefined): TrustStore {
  const byId = new Map([...roots, ...publishers].map((k) => [k.keyid, k]))
  const revocationsFile = join(dir, REVOCATIONS_FILE)
  const describe = (k: TrustedKey) => `${k.kind} key ${k.keyid} (${k.name})`
  return {
    dir,
    roots,
    publishers,
    revocations,
    key: (keyid) => byId.get(keyid),
    authorize(keyid, manifest, now) {
      const key = byId.get(keyid)
      const plugin = `${manifest.id}@${manifest.version}`
      if (!key) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${plugin} is signed by unknown key ${keyid}; no root key or publisher grant in ${dir} has that key id`)
      if (!revocations) {
        throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${revocationsFile} is missing; without a revocation list signed by a root no plugin is trusted (fail closed)`)
      }
      if (now.getTime() >= Date.parse(revocations.expiresAt)) {
        throw omniError('OMNI_ERR_PLUGIN_REVOKED', `the revocation list ${revocationsFile} expired at ${revocations.expiresAt} (now ${now.toISOString()}); no plugin is trusted until a root signs a fresh one (fail closed)`)
      }
      const revoked = new Set(revocations.revokedKeys)
      if (revoked.has(key.keyid)) throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${plugin} is signed by ${describe(key)}, which is revoked in ${revocationsFile}`)
      if (key.grantedBy && revoked.has(key.grantedBy)) {
        throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${plugin} is signed by ${describe(key)}, whose grant was signed by root key ${key.grantedBy}, which is revoked in ${revocationsFile}`)
      }
      if (key.expiresAt && now.getTime() >= Date.parse(key.expiresAt)) {
        throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${plugin} is signed by ${describe(key)}, whose grant in ${key.source} expired at ${key.expiresAt} (now ${now.toISOString()})`)
      }
      if (!tierAllows(key.maxTier, manifest.tier)) {
        throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${plugin} has tier ${manifest.tier}, but ${describe(key)} is only granted up to tier ${key.maxTier}`)
      }
      const yank = revocations.yanked.find((y) => y.id === manifest.id && y.version === manifest.version)
      if (yank) throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${plugin} is yanked in ${revocationsFile}: ${yank.reason}`)
      return key
    },
  }
}

async function loadRoots(dir: string): Promise<TrustedKey[]> {
  const roots: TrustedKey[] = []
  for (const file of await listFiles(join(dir, 'roots'), '.pub')) {
    const publicKey = await readPublicKey(file)
    const keyid = keyIdOf(publicKey)
    const clash = roots.find((r) => r.keyid === keyid)
    if (clash) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${file} holds the same root key as ${clash.source}; remove one of them`)
    roots.push({ keyid, name: basename(file, '.pub'), kind: 'root', publicKey, maxTier: 'core', source: file })
  }
  if (roots.length === 0) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `trust store ${dir} has no root keys (${join(dir, 'roots')}/*.pub); nothing can be trusted`)
  return roots
}

/** Files in `dir` ending with `suffix`, sorted; none when the folder does not exist. */
async function listFiles(dir: string, suffix: string): Promise<string[]> {
  try {
    const names = await readdir(dir)
    return names.filter((n) => n.endsWith(suffix)).sort().map((n) => join(dir, n))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Envelope bytes (undefined when missing), refused unread when over the envelope size limit. */
async function readEnvelope(file: string, code: OmniErrorCode): Promise<Buffer | undefined> {
  const read = await readCapped(file, { maxBytes: MAX_ENVELOPE_BYTES, noFollow: false })
  if (read.type === 'ok') return read.bytes
  if (read.type === 'missing') return undefined
  const why = read.type === 'too-large' ? `is ${read.size} bytes, over the ${MAX_ENVELOPE_BYTES}-byte limit for envelopes` : 'is not a regular file'
  throw omniError(code, `${file} ${why}`)
}
