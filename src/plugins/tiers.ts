/**
 * Trust tiers, from least to most trusted. A key granted a tier may sign plugins of that tier
 * and every tier below it; root keys may sign up to `core`.
 */
export const TIERS = ['alpha', 'community', 'private', 'verified', 'core'] as const
export type Tier = (typeof TIERS)[number]

/** Position of a tier in the order alpha < community < private < verified < core (0-based). */
export function tierRank(tier: Tier): number {
  return TIERS.indexOf(tier)
}

/** True when a key granted `granted` may sign a plugin of tier `wanted`. */
export function tierAllows(granted: Tier, wanted: Tier): boolean {
  return tierRank(wanted) <= tierRank(granted)
}

/**
 * Community and alpha plugins run additively: their results are recorded beside the approved
 * path, never on it, so a faulty or hostile one cannot change what the pipeline delivers.
 */
export function isAdditiveTier(tier: Tier): boolean {
  return tier === 'community' || tier === 'alpha'
}

/** Tiers trusted enough to run in the host process (no sandbox). */
export function mayRunInProcess(tier: Tier): boolean {
  return tierRank(tier) >= tierRank('verified')
}
