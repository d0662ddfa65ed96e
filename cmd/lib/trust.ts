import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { omniError } from '../../src/errors/mod.ts'
import { loadTrustStore, type TrustedKey, type TrustStore } from '../../src/plugins/mod.ts'

/**
 * Loads the trust store, first saying plainly when the folder is not there (the library would
 * only report that it has no root keys).
 */
export async function openTrust(dir: string): Promise<TrustStore> {
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory()) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `trust store ${dir} does not exist; create it with \`omni plugin keygen <name> --root --trust ${dir}\` or point --trust / $OMNI_TRUST at one`)
  }
  return loadTrustStore(dir)
}

/** How a trusted key reads in output: `publisher key <id> "name" (up to tier T, granted by root R until D)`. */
export function describeKey(trust: TrustStore, keyid: string): string {
  const key: TrustedKey | undefined = trust.key(keyid)
  if (!key) return `key ${keyid} (unknown to ${trust.dir})`
  if (key.kind === 'root') return `root key ${key.keyid} "${key.name}" (may sign every tier)`
  const root = key.grantedBy ? trust.key(key.grantedBy) : undefined
  return `publisher key ${key.keyid} "${key.name}" (up to tier ${key.maxTier}, granted by root ${root ? `"${root.name}"` : key.grantedBy} until ${key.expiresAt})`
}

/** The root key of `trust` with this key id, or an error naming the roots it has. */
export function requireRoot(trust: TrustStore, keyid: string, file: string): TrustedKey {
  const root = trust.roots.find((r) => r.keyid === keyid)
  if (root) return root
  const roots = trust.roots.map((r) => `${r.name} (${r.keyid})`).join(', ')
  throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${file} (key ${keyid}) is not a root key of ${trust.dir}; its roots are ${roots} (${join(trust.dir, 'roots')}/*.pub)`)
}
