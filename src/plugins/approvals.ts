import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { BucketOptions } from '../jetstream/replicas.ts'
import Type, { type Static } from 'typebox'
import { omniError } from '../errors/mod.ts'
import type { Runtime } from '../sandbox/types.ts'
import { readJsonEntry } from './kv-json.ts'
import { RuntimeSchema, SHA256_PATTERN } from './manifest-schema.ts'
import type { VerifiedPlugin } from './verify.ts'

export const APPROVALS_BUCKET = 'omni_plugin_approvals'

/** The capabilities as approved (and as the API shows them). */
export const ApprovedCapabilitiesSchema = Type.Object({
  emit: Type.Array(Type.String()),
  memoryMb: Type.Number(),
  timeoutMs: Type.Number(),
  cpus: Type.Number(),
  pids: Type.Number(),
  network: Type.Literal('none'),
})

const ApprovalSchema = Type.Object({
  id: Type.String(),
  version: Type.String(),
  serial: Type.Integer(),
  digest: Type.String({ pattern: SHA256_PATTERN }),
  runtime: RuntimeSchema,
  capabilities: ApprovedCapabilitiesSchema,
  // optional only so that approvals recorded before they were bound still read; such an approval
  // matches no plugin and must be given again
  /** the key id that signed the approved manifest: a re-sign by another key is not approved */
  keyid: Type.Optional(Type.String({ minLength: 1 })),
  /** the tier it was approved at: a re-sign at another tier is not approved */
  tier: Type.Optional(Type.String({ minLength: 1 })),
  /** who approved: the identity of the API token, or the OS user of the CLI; never a name the caller typed */
  approvedBy: Type.String({ minLength: 1 }),
  approvedAt: Type.String(),
})
/** The capabilities a person approved for a plugin id, bound to the signer and tier they reviewed. */
export type Approval = Static<typeof ApprovalSchema>

/** Capability approvals shared by every node through a KV bucket. */
export interface Approvals {
  /**
   * Passes when the plugin asks for nothing beyond its approval (equal or narrower); otherwise
   * OMNI_ERR_PLUGIN_APPROVAL names each new or wider capability and the command that approves it.
   */
  check(v: VerifiedPlugin): Promise<Approval>
  /** Records the plugin's current capabilities, signer and tier as approved by `by` (an identity the adapter established). */
  approve(v: VerifiedPlugin, by: string, now?: Date): Promise<Approval>
  get(id: string): Promise<Approval | undefined>
}

/** Opens (creating if needed) the approvals bucket. */
export async function openApprovals(js: JetStreamClient, opts: BucketOptions = {}): Promise<Approvals> {
  const kv = await new Kvm(js).create(APPROVALS_BUCKET, { history: 5, ...opts })
  const get = async (id: string) => (await readJsonEntry<Approval>(kv, id, ApprovalSchema, 'OMNI_ERR_PLUGIN_APPROVAL'))?.value
  return {
    get,
    check: async (v) => check(v, await get(v.manifest.id)),
    approve: (v, by, now) => approve(kv, v, by, now ?? new Date()),
  }
}

/**
 * What `v` has that `approved` did not cover, as readable lines: another signing key (another
 * publisher's plugin of the same id, or a re-sign), another tier, and each capability that is new
 * or wider. An approval is for what a person reviewed, so any of these needs approving again.
 */
export function widenedCapabilities(v: VerifiedPlugin, approved: Approval): string[] {
  const want = v.manifest.capabilities
  const had = approved.capabilities
  const out: string[] = []
  if (approved.keyid === undefined || approved.tier === undefined) {
    out.push('the approval was recorded before approvals were bound to the signing key and tier')
  } else {
    if (approved.keyid !== v.keyid) out.push(`signed by key ${v.keyid} (${v.signer}), not by the approved key ${approved.keyid}`)
    if (approved.tier !== v.manifest.tier) out.push(`tier ${v.manifest.tier} is not the approved tier ${approved.tier}`)
  }
  for (const subject of want.emit) {
    if (!had.emit.some((a) => subjectCovers(a, subject))) out.push(`emit "${subject}" is new (approved: ${had.emit.map((s) => `"${s}"`).join(', ') || 'none'})`)
  }
  for (const field of ['memoryMb', 'timeoutMs', 'cpus', 'pids'] as const) {
    if (want[field] > had[field]) out.push(`${field} ${want[field]} is more than the approved ${had[field]}`)
  }
  if (RUNTIME_EXPOSURE[v.manifest.runtime] > RUNTIME_EXPOSURE[approved.runtime]) {
    out.push(`runtime ${v.manifest.runtime} is less isolated than the approved ${approved.runtime}`)
  }
  return out
}

/**
 * True when every subject matching pattern `wide` also matches `narrow`'s subjects, i.e. `wide`
 * covers `narrow` (`*` one token, `>` one or more trailing tokens).
 */
export function subjectCovers(wide: string, narrow: string): boolean {
  const w = wide.split('.')
  const n = narrow.split('.')
  for (let i = 0; i < w.length; i++) {
    const a = w[i]
    const b = n[i]
    if (a === '>') return b !== undefined
    if (b === undefined || b === '>') return false
    if (a !== '*' && (b === '*' || a !== b)) return false
  }
  return w.length === n.length
}

/** How much of the host a runtime exposes: a container least, the host process most. */
const RUNTIME_EXPOSURE: Record<Runtime, number> = { container: 0, isolate: 1, inprocess: 2 }

function check(v: VerifiedPlugin, approved: Approval | undefined): Approval {
  const { id, version } = v.manifest
  const fix = `review it and run \`omni plugin approve ${id}\``
  if (!approved) {
    throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${id}@${version} has no approved capabilities (${describe(v)}); ${fix}`)
  }
  const widened = widenedCapabilities(v, approved)
  if (widened.length > 0) {
    const problems = widened.map((message) => ({ where: `${id}@${version}`, message }))
    throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${id}@${version} asks for more than was approved (by ${approved.approvedBy} for ${approved.version}, serial ${approved.serial}): ${widened.join('; ')}; ${fix}`, { problems })
  }
  return approved
}

async function approve(kv: KV, v: VerifiedPlugin, by: string, now: Date): Promise<Approval> {
  if (by.trim() === '') throw omniError('OMNI_ERR_CONFIG', 'an approval must name who approved it')
  const m = v.manifest
  const approval: Approval = {
    id: m.id,
    version: m.version,
    serial: m.serial,
    digest: v.digest,
    runtime: m.runtime,
    capabilities: { ...m.capabilities, emit: [...m.capabilities.emit] },
    keyid: v.keyid,
    tier: m.tier,
    approvedBy: by,
    approvedAt: now.toISOString(),
  }
  await kv.put(m.id, JSON.stringify(approval))
  return approval
}

function describe(v: VerifiedPlugin): string {
  const c = v.manifest.capabilities
  return `runtime ${v.manifest.runtime}, emit [${c.emit.join(', ')}], memoryMb ${c.memoryMb}, timeoutMs ${c.timeoutMs}, cpus ${c.cpus}, pids ${c.pids}`
}
