import { omniError } from '../errors/mod.ts'
import { isoSeconds } from '../util/time.ts'
import type { SigningKey } from './dsse.ts'
import { writeRevocationList, type RevocationList } from './revocations.ts'
import { loadTrustStore, type TrustStore } from './trust.ts'

/** What to add to the revocation list; everything already in it is kept. */
export interface RevocationChange {
  /** key ids to revoke */
  readonly keys: readonly string[]
  /** plugin versions to yank, all with `reason` */
  readonly yanks: readonly { readonly id: string; readonly version: string }[]
  readonly reason: string
  /** when the new list expires */
  readonly expiresAt: string
  readonly now?: Date
}

/** One requested entry: newly added, or already in the list before. */
export type RevocationEntryResult =
  | { readonly type: 'key'; readonly keyid: string; readonly added: boolean }
  | { readonly type: 'yank'; readonly id: string; readonly version: string; readonly reason: string; readonly added: boolean }

export interface RevocationUpdate {
  /** the list as signed and written */
  readonly list: RevocationList
  readonly file: string
  /** each requested key, then each requested version, in the order asked */
  readonly entries: readonly RevocationEntryResult[]
  /** the trust store re-read with the new list */
  readonly trust: TrustStore
}

/**
 * Re-signs `<trust>/revocations.dsse.json` with the root key `root`, keeping every earlier entry
 * and adding the requested ones; with nothing requested the list is only re-signed with a new
 * expiry. The store is re-read afterwards, so a list that does not load is reported at once.
 */
export async function updateRevocations(trust: TrustStore, root: SigningKey, change: RevocationChange): Promise<RevocationUpdate> {
  if (!trust.roots.some((r) => r.keyid === root.keyid)) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `key ${root.keyid} is not a root key of ${trust.dir}; only a root signs the revocation list`)
  }
  const before: RevocationList = trust.revocations ?? { issuedAt: '', expiresAt: '', revokedKeys: [], yanked: [] }
  const entries: RevocationEntryResult[] = []
  const revokedKeys = [...before.revokedKeys]
  for (const keyid of change.keys) {
    const added = !revokedKeys.includes(keyid)
    if (added) revokedKeys.push(keyid)
    entries.push({ type: 'key', keyid, added })
  }
  const yanked = [...before.yanked]
  for (const { id, version } of change.yanks) {
    const earlier = yanked.find((y) => y.id === id && y.version === version)
    if (!earlier) yanked.push({ id, version, reason: change.reason })
    entries.push({ type: 'yank', id, version, reason: earlier?.reason ?? change.reason, added: !earlier })
  }
  const issuedAt = isoSeconds(change.now ?? new Date())
  const list: RevocationList = { issuedAt, expiresAt: change.expiresAt, revokedKeys, yanked }
  const file = await writeRevocationList(trust.dir, root, list)
  return { list, file, entries, trust: await loadTrustStore(trust.dir) }
}
