import type { TrustedKey, TrustStore } from '../../src/plugins/mod.ts'

/** How a trusted key reads in output: `publisher key <id> "name" (up to tier T, granted by root R until D)`. */
export function describeKey(trust: TrustStore, keyid: string): string {
  const key: TrustedKey | undefined = trust.key(keyid)
  if (!key) return `key ${keyid} (unknown to ${trust.dir})`
  if (key.kind === 'root') return `root key ${key.keyid} "${key.name}" (may sign every tier)`
  const root = key.grantedBy ? trust.key(key.grantedBy) : undefined
  return `publisher key ${key.keyid} "${key.name}" (up to tier ${key.maxTier}, granted by root ${root ? `"${root.name}"` : key.grantedBy} until ${key.expiresAt})`
}
