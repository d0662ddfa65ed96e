import { cp, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { SigningKey } from './dsse.ts'
import type { HighWaterMarks, HighWaterResult } from './high-water.ts'
import { swapInto } from './install.ts'
import { promotePlugin } from './promote.ts'
import type { PluginRegistry, RegistryEntry } from './registry.ts'
import type { Tier } from './tiers.ts'
import type { TrustStore } from './trust.ts'
import { verifyPlugin, type VerifiedPlugin, type VerifyOptions } from './verify.ts'

export interface PromoteInstalledOptions {
  readonly pluginsDir: string
  readonly id: string
  /** the new tier; must be above the current one */
  readonly tier: Tier
  readonly trust: TrustStore
  readonly verify: VerifyOptions
  readonly expiresAt?: string
}

export interface PromotedInstall {
  readonly plugin: VerifiedPlugin
  readonly from: Tier
  /** the registry object the promoted bundle was published as */
  readonly published: RegistryEntry
  readonly highWater: HighWaterResult
}

/**
 * Promotes the installed plugin `<pluginsDir>/<id>` the way `promotePlugin` does a folder (new
 * tier, serial + 1, re-signed by `key`), on a copy in a dot-folder: the copy is verified,
 * published to `registry` (so other nodes can install the promoted version), checked against the
 * cluster's high-water mark, and only then swapped into place. A refusal at any step leaves the
 * installed plugin as it was; the mark, recorded last, is never ahead of what is installed here.
 */
export async function promoteInstalled(key: SigningKey, opts: PromoteInstalledOptions, marks: HighWaterMarks, registry: PluginRegistry): Promise<PromotedInstall> {
  const final = join(opts.pluginsDir, opts.id)
  const staging = await mkdtemp(join(opts.pluginsDir, '.staging-'))
  try {
    const copy = join(staging, opts.id)
    // links are copied as links, so verification refuses them as it would in place
    await cp(final, copy, { recursive: true, verbatimSymlinks: true })
    const before = await verifyPlugin(copy, opts.trust, opts.verify)
    await promotePlugin(copy, key, { tier: opts.tier, trust: opts.trust, ...(opts.verify.now ? { now: opts.verify.now } : {}), ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}) })
    const promoted = await verifyPlugin(copy, opts.trust, opts.verify)
    const published = await registry.publish(promoted)
    const highWater = await marks.check(promoted)
    await swapInto(copy, final)
    return { plugin: Object.freeze({ ...promoted, dir: final }), from: before.manifest.tier, published, highWater }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}
