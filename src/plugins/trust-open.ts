import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { omniError } from '../errors/mod.ts'
import { loadTrustStore, type TrustedKey, type TrustStore } from './trust.ts'

/**
 * Loads the trust store, first saying plainly when the folder is not there (`loadTrustStore`
 * would only report that it has no root keys). The CLI and a node read it through this alone.
 */
export async function openTrustStore(dir: string): Promise<TrustStore> {
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory()) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `trust store ${dir} does not exist; create it with \`omni plugin keygen <name> --root --trust ${dir}\` or point --trust / $OMNI_TRUST at one`)
  }
  return loadTrustStore(dir)
}

/**
 * The root key of `trust` with this key id, or an error naming the roots it has. `source` says
 * where the key came from (a file, a key name), so the message points at what to change.
 */
export function requireRoot(trust: TrustStore, keyid: string, source: string): TrustedKey {
  const root = trust.roots.find((r) => r.keyid === keyid)
  if (root) return root
  const roots = trust.roots.map((r) => `${r.name} (${r.keyid})`).join(', ')
  throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${source} (key ${keyid}) is not a root key of ${trust.dir}; its roots are ${roots} (${join(trust.dir, 'roots')}/*.pub)`)
}
