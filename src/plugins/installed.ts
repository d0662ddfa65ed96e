import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isOmniError } from '../errors/mod.ts'
import { widenedCapabilities, type Approval, type Approvals } from './approvals.ts'
import { parsePluginManifest } from './manifest.ts'
import { MANIFEST_FILE } from './paths.ts'
import { isAdditiveTier } from './tiers.ts'
import type { TrustStore } from './trust.ts'
import { verifyPlugin, type VerifiedPlugin, type VerifyOptions } from './verify.ts'

/** Whether a plugin's capabilities are approved: not at all, as they are, or only narrower ones. */
export type ApprovalStatus =
  | { readonly state: 'none' }
  | { readonly state: 'approved'; readonly by: string }
  | { readonly state: 'widened'; readonly by: string; readonly widened: string[] }
  /** the folder does not verify, so there is nothing to compare */
  | { readonly state: 'unknown' }

/** One installed plugin folder as listed; `error` is why it fails verification. */
export interface InstalledPlugin {
  readonly folder: string
  readonly id: string
  readonly version: string
  readonly serial: number | null
  readonly tier: string
  readonly runtime: string
  readonly additive: boolean | null
  readonly verified: boolean
  readonly digest: string | null
  readonly error?: { readonly code: string; readonly message: string }
  readonly approval?: ApprovalStatus
}

/** How `v` stands against the approval recorded for its id. */
export function approvalStatus(v: VerifiedPlugin, approved: Approval | undefined): ApprovalStatus {
  if (!approved) return { state: 'none' }
  const widened = widenedCapabilities(v, approved)
  return widened.length > 0 ? { state: 'widened', by: approved.approvedBy, widened } : { state: 'approved', by: approved.approvedBy }
}

/** The plugin folders of `dir`, sorted; none when it does not exist. */
export async function installedFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return []
    throw err
  })
  // dot-folders are installs in progress or replaced ones on their way out
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort()
}

/**
 * Verifies every installed plugin of `dir`; with `approvals`, also says whether each one's
 * capabilities are approved. A folder that fails verification is listed with its error.
 */
export async function listInstalled(dir: string, trust: TrustStore, opts: VerifyOptions, approvals?: Approvals): Promise<InstalledPlugin[]> {
  const rows: InstalledPlugin[] = []
  for (const folder of await installedFolders(dir)) rows.push(await inspectInstalled(join(dir, folder), folder, trust, opts, approvals))
  return rows
}

/** One installed folder, verified (and compared with its approval, given `approvals`). */
export async function inspectInstalled(dir: string, folder: string, trust: TrustStore, opts: VerifyOptions, approvals?: Approvals): Promise<InstalledPlugin> {
  try {
    const v = await verifyPlugin(dir, trust, opts)
    const m = v.manifest
    const row = { folder, id: m.id, version: m.version, serial: m.serial, tier: m.tier, runtime: m.runtime, additive: isAdditiveTier(m.tier), verified: true, digest: v.digest }
    return approvals ? { ...row, approval: approvalStatus(v, await approvals.get(m.id)) } : row
  } catch (err) {
    if (!isOmniError(err)) throw err
    // what the folder claims to be, unverified, only so the row can be recognised
    const claimed = await readFile(join(dir, MANIFEST_FILE)).then((bytes) => parsePluginManifest(bytes, MANIFEST_FILE)).catch(() => undefined)
    return {
      folder,
      id: claimed?.id ?? folder,
      version: claimed?.version ?? '?',
      serial: claimed?.serial ?? null,
      tier: claimed?.tier ?? '?',
      runtime: claimed?.runtime ?? '?',
      additive: claimed ? isAdditiveTier(claimed.tier) : null,
      verified: false,
      digest: null,
      error: { code: err.code, message: err.message },
      ...(approvals ? { approval: { state: 'unknown' as const } } : {}),
    }
  }
}
