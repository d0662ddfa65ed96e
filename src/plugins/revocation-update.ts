import { isoSeconds } from '../util/time.ts'
import type { SigningKey } from './dsse.ts'
import { writeRevocationList, type RevocationList } from './revocations.ts'
import { loadTrustStore, type TrustStore } from './trust.ts'
import { requireRoot } from './trust-open.ts'

/** How long a re-signed revocation list is valid when no expiry is asked for. */
export const REVOCATIONS_DAYS = 90
/** Why a version is yanked when no reason is given. */
export const DEFAULT_YANK_REASON = 'yanked by the operator'

/** What to add to the revocation list; everything already in it is kept. */
export interface RevocationChange {
  /** key ids to revoke */
  readonly keys: readonly string[]
  /** plugin versions to yank, all with `reason` */
  readonly yanks: readonly { readonly id: string; readonly version: string }[]
  /** default DEFAULT_YANK_REASON */
  readonly reason?: string
  /** when the new list expires; default REVOCATIONS_DAYS from now */
  readonly expiresAt?: string
  readonly now?: Date
  /** where the root key came from (a file, a key name), named when it is not a root */
  readonly rootSource?: string
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
  requireRoot(trust, root.keyid, change.rootSource ?? 'the signing key')
  const now = change.now ?? new Date()
  const reason = change.reason ?? DEFAULT_YANK_REASON
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
    if (!earlier) yanked.push({ id, version, reason })
    entries.push({ type: 'yank', id, version, reason: earlier?.reason ?? reason, added: !earlier })
  }
  const expiresAt = change.expiresAt ?? defaultRevocationsExpiry(now)
  const list: RevocationList = { issuedAt: isoSeconds(now), expiresAt, revokedKeys, yanked }
  const file = await writeRevocationList(trust.dir, root, list)
  return { list, file, entries, trust: await loadTrustStore(trust.dir) }
}

/** When a revocation list signed at `now` expires unless told otherwise. */
export function defaultRevocationsExpiry(now: Date): string {
  return isoSeconds(new Date(now.getTime() + REVOCATIONS_DAYS * 86_400_000))
}
