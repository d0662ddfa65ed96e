import type { BUNDLE_FORMAT, VerifiedPlugin } from '../plugins/mod.ts'

/** A signed bundle in the registry's format, as `cartridge.published` carries it (base64 inside). */
export interface CartridgeBundle {
  format: typeof BUNDLE_FORMAT
  envelope: string
  files: { path: string; data: string }[]
}

/** The plugin id and version a bundle must turn out to be. */
export interface CartridgeRef {
  readonly id: string
  readonly version: string
}

/** What adopting a received revocation list did. */
export type AdoptSummary =
  | { readonly type: 'adopted'; readonly issuedAt: string; readonly addedKeys: readonly string[]; readonly addedYanks: readonly CartridgeRef[]; readonly stopped: readonly string[] }
  | { readonly type: 'kept'; readonly issuedAt: string; readonly current: string }

/**
 * The node's plugin paths the mesh uses for received cartridges; the composition root implements
 * it with its plugin service, so a received cartridge goes through exactly the checks a local
 * install does (never a shortcut of the mesh's own).
 */
export interface CartridgeHost {
  /** every check of an install (signature, trust store, tier cap, revocations, dates, audience, files, high-water mark), installing nothing */
  check(bundle: CartridgeBundle, ref: CartridgeRef): Promise<VerifiedPlugin>
  /** installs through the node's install path (checks again, records the high-water mark), approves its capabilities as `by`, reloads */
  install(bundle: CartridgeBundle, ref: CartridgeRef, by: string): Promise<VerifiedPlugin>
  /** verifies a revocation list against this node's roots and adopts it when newer; reloads, stopping what it revokes */
  adoptRevocations(envelope: Buffer, source: string): Promise<AdoptSummary>
}
