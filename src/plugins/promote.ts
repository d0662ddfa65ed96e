import { omniError } from '../errors/mod.ts'
import type { SigningKey } from './dsse.ts'
import { prepareSignature, writeSignature, type SignedPlugin } from './sign.ts'
import { tierRank, type Tier } from './tiers.ts'
import type { TrustStore } from './trust.ts'
import { verifyBundle } from './verify.ts'

export interface PromoteOptions {
  /** the new tier; must be above the current one */
  readonly tier: Tier
  /** the folder must verify against it, and the key must be trusted for the new tier */
  readonly trust: TrustStore
  readonly now?: Date
  /** a new expiry for the re-signed manifest */
  readonly expiresAt?: string
}

/**
 * Promotes a signed plugin to a higher tier (alpha → community …): the folder must verify as it
 * is, then the manifest gets the new tier and serial + 1 and is re-signed by `key`, which must be
 * granted the new tier. The code files must be the very bytes that were verified.
 */
export async function promotePlugin(dir: string, key: SigningKey, opts: PromoteOptions): Promise<SignedPlugin> {
  const now = opts.now ?? new Date()
  // the audience is not checked: promotion often prepares a plugin for other clusters
  const current = await verifyBundle(dir, opts.trust, now, undefined)
  const m = current.manifest
  if (tierRank(opts.tier) <= tierRank(m.tier)) {
    throw omniError('OMNI_ERR_CONFIG', `${m.id}@${m.version} is tier ${m.tier}; promotion must go to a higher tier, not ${opts.tier}`)
  }
  opts.trust.authorize(key.keyid, { ...m, tier: opts.tier }, now)
  const edits = { tier: opts.tier, serial: 'next' as const, ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}) }
  const prepared = await prepareSignature(dir, key, { trust: opts.trust, now, edits })
  const before = JSON.stringify(m.entry.files)
  if (JSON.stringify(prepared.manifest.entry.files) !== before) {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${dir}: the code files changed while ${m.id}@${m.version} was being promoted; nothing was written`)
  }
  await writeSignature(prepared)
  const { manifestBytes: _m, envelopeBytes: _e, ...signed } = prepared
  return signed
}
