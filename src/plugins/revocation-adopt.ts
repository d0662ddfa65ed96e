import { join } from 'node:path'
import { omniError } from '../errors/mod.ts'
import { writeAtomically } from '../util/atomic-write.ts'
import { openEnvelope, PAYLOAD_TYPES } from './dsse.ts'
import { parseRevocationList, REVOCATIONS_FILE, type RevocationList } from './revocations.ts'
import { loadTrustStore, type TrustStore } from './trust.ts'

/** What adopting a revocation list signed elsewhere did. */
export type AdoptResult =
  | { readonly type: 'adopted'; readonly list: RevocationList; readonly trust: TrustStore; readonly addedKeys: readonly string[]; readonly addedYanks: readonly { readonly id: string; readonly version: string }[] }
  /** the store already holds this list or a newer one: nothing was written */
  | { readonly type: 'kept'; readonly list: RevocationList; readonly current: RevocationList }

/**
 * Adopts a revocation list that another node signed and sent (the exact bytes of its
 * `revocations.dsse.json`): verified against this store's own roots, refused when expired or when
 * it would drop a key or a yanked version this store revokes, kept out when it is not newer than
 * the store's, and otherwise written as received (atomically) and the store re-read. A list that
 * is not signed by one of this store's roots fails with OMNI_ERR_PLUGIN_UNTRUSTED (a bad signature: _SIGNATURE).
 */
export async function adoptRevocationList(trust: TrustStore, envelope: Uint8Array, source: string, now: Date): Promise<AdoptResult> {
  const rootKeys = (keyid: string) => trust.roots.find((r) => r.keyid === keyid)?.publicKey
  const opened = openEnvelope(envelope, { source, payloadType: PAYLOAD_TYPES.revocations, keys: rootKeys })
  const list = parseRevocationList(opened.payload, source)
  if (now.getTime() >= Date.parse(list.expiresAt)) {
    throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${source}: the revocation list expired at ${list.expiresAt} (now ${now.toISOString()}); an expired list is never adopted`)
  }
  const current = trust.revocations
  if (current && Date.parse(list.issuedAt) <= Date.parse(current.issuedAt)) return { type: 'kept', list, current }
  const dropped = current ? droppedEntries(current, list) : []
  if (dropped.length > 0) {
    throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${source}: the revocation list issued ${list.issuedAt} drops ${dropped.join(', ')}, which ${join(trust.dir, REVOCATIONS_FILE)} revokes; a received list may only add entries`)
  }
  await writeAtomically(join(trust.dir, REVOCATIONS_FILE), envelope)
  const addedKeys = list.revokedKeys.filter((k) => !current?.revokedKeys.includes(k))
  const addedYanks = list.yanked.filter((y) => !current?.yanked.some((c) => c.id === y.id && c.version === y.version)).map(({ id, version }) => ({ id, version }))
  return { type: 'adopted', list, trust: await loadTrustStore(trust.dir), addedKeys, addedYanks }
}

/** The entries of `before` that `after` no longer has, named for an error. */
function droppedEntries(before: RevocationList, after: RevocationList): string[] {
  const keys = before.revokedKeys.filter((k) => !after.revokedKeys.includes(k)).map((k) => `revoked key ${k}`)
  const yanks = before.yanked.filter((y) => !after.yanked.some((a) => a.id === y.id && a.version === y.version)).map((y) => `yanked ${y.id}@${y.version}`)
  return [...keys, ...yanks]
}
