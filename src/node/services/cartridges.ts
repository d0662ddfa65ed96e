import type { BucketOptions } from '../../jetstream/replicas.ts'
import type { JetStreamClient } from '@nats-io/jetstream'
import { omniError } from '../../errors/mod.ts'
import type { CartridgeBundle, CartridgeHost } from '../../mesh/cartridge-host.ts'
import { openPendingCartridges, type PendingCartridge, type PendingCartridges } from '../../mesh/pending.ts'
import { encodeBundle, PLUGIN_ID_PATTERN, SEMVER_PATTERN, sha256Hex } from '../../plugins/mod.ts'
import type { IngestResult, IngestService } from './ingest.ts'
import type { PluginService } from './plugins.ts'

/**
 * Cartridges across the mesh, on this node: publish an installed signed plugin or the revocation
 * list as public events (the mesh carries them to peers), and the queue of received cartridges
 * waiting for a person (sovereignty L1): list, approve (installs through the normal path) or reject.
 */
export interface CartridgeService {
  /** publishes the installed plugin `id` (verified now) as `cartridge.published` */
  publish(id: string): Promise<IngestResult & { readonly plugin: { readonly id: string; readonly version: string; readonly serial: number; readonly tier: string; readonly digest: string; readonly keyid: string } }>
  /** publishes this node's signed revocation list as `cartridge.revoked` */
  publishRevocations(): Promise<IngestResult & { readonly issuedAt: string; readonly revokedKeys: number; readonly yanked: number }>
  /** the received cartridges waiting for a person, bundles left out */
  pending(): Promise<Omit<PendingCartridge, 'bundle'>[]>
  /**
   * Installs the queued cartridge `id` through the normal install path (verified again), approves
   * its capabilities as `by` (the adapter's identity of the caller), and dequeues it; with `digest`,
   * only if the queued manifest is still the one reviewed.
   */
  approve(id: string, request: { readonly by: string; readonly digest?: string }): Promise<Omit<PendingCartridge, 'bundle'>>
  /** dequeues `id` without installing it; recorded as `cartridge.refused` (reason cartridge-rejected) */
  reject(id: string, request: { readonly by: string; readonly reason?: string }): Promise<Omit<PendingCartridge, 'bundle'>>
}

export interface CartridgeServiceDeps {
  readonly plugins: PluginService
  readonly ingest: IngestService
  /** undefined without a cluster connection: the pending queue then answers 503 */
  readonly js: JetStreamClient | undefined
  /** what the pending bucket is given when this service creates it (its replicas) */
  readonly bucketOptions?: BucketOptions
}

export function createCartridgeService(deps: CartridgeServiceDeps): CartridgeService {
  let pendingP: Promise<PendingCartridges> | undefined
  const queue = () => {
    if (!deps.js) throw omniError('OMNI_ERR_UNAVAILABLE', "the pending cartridges live in the node's NATS (KV bucket omni_cartridges_pending); give its URL")
    const js = deps.js
    return (pendingP ??= openPendingCartridges(js, deps.bucketOptions).catch((err: unknown) => {
      pendingP = undefined
      throw err
    }))
  }
  const host = cartridgeHostOf(deps.plugins)
  const take = async (id: string): Promise<PendingCartridge> => {
    const p = await (await queue()).get(id)
    if (!p) throw omniError('OMNI_ERR_NOT_FOUND', `no cartridge ${id} is waiting for approval (\`omni plugin pending\` lists them)`)
    return p
  }
  const audit = (type: string, data: Record<string, unknown>) => deps.ingest.nodeEvent({ type, data })
  return {
    async publish(id) {
      const { plugin: v } = await deps.plugins.review(id)
      const m = v.manifest
      const plugin = { id: m.id, version: m.version, serial: m.serial, tier: m.tier, keyid: v.keyid, digest: v.digest }
      const bundle = JSON.parse(Buffer.from(encodeBundle(v)).toString('utf8')) as CartridgeBundle
      const result = await deps.ingest.nodeEvent({ type: 'cartridge.published', data: { ...plugin, bundle } })
      return { ...result, plugin }
    },
    async publishRevocations() {
      const envelope = await deps.plugins.revocationsEnvelope()
      const list = (await deps.plugins.trust()).revocations
      if (!list) throw omniError('OMNI_ERR_PLUGIN_REVOKED', 'this node has no revocation list to publish')
      const data = { issuedAt: list.issuedAt, expiresAt: list.expiresAt, revokedKeys: list.revokedKeys.length, yanked: list.yanked.length, digest: sha256Hex(envelope), envelope: envelope.toString('base64') }
      return { ...(await deps.ingest.nodeEvent({ type: 'cartridge.revoked', data })), issuedAt: list.issuedAt, revokedKeys: data.revokedKeys, yanked: data.yanked }
    },
    pending: async () => (await (await queue()).list()).map(withoutBundle),
    async approve(id, { by, digest }) {
      const p = await take(id)
      if (digest !== undefined && digest !== p.digest) {
        throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${p.id}@${p.version} was not approved: the queued manifest digest is ${p.digest}, not the reviewed ${digest} (a newer serial replaced it); review it again`)
      }
      await host.install(p.bundle, p, by)
      await (await queue()).remove(id)
      const { bundle: _, receivedAt: _r, cluster: _c, runtime: _rt, capabilities: _cap, signer: _s, ...summary } = p
      await audit('cartridge.installed', { ...summary, level: 'L1', by })
      return withoutBundle(p)
    },
    async reject(id, { by, reason }) {
      const p = await take(id)
      await (await queue()).remove(id)
      const message = `${p.id}@${p.version} (serial ${p.serial}) from ${p.origin} was rejected by ${by}${reason ? `: ${reason}` : ''}`
      await audit('cartridge.refused', { event: p.event, origin: p.origin, reason: 'cartridge-rejected', code: 'OMNI_ERR_PLUGIN_APPROVAL', message, id: p.id, version: p.version, serial: p.serial, digest: p.digest, by })
      return withoutBundle(p)
    },
  }
}

/** The mesh's view of the node's plugin paths: install and approve are the service's own. */
export function cartridgeHostOf(plugins: PluginService): CartridgeHost {
  return {
    check: (bundle, ref) => plugins.check(bundle, requireRef(ref)),
    async install(bundle, ref, by) {
      requireRef(ref)
      const installed = await plugins.install({ id: ref.id, version: ref.version, bundle })
      // bound to the digest just installed: a folder swapped meanwhile is refused, not approved unseen
      await plugins.approve(ref.id, { by, digest: installed.plugin.digest })
      return (await plugins.review(ref.id)).plugin
    },
    async adoptRevocations(envelope, source) {
      const a = await plugins.adoptRevocations(envelope, source)
      if (a.type === 'kept') return a
      return { type: 'adopted', issuedAt: a.issuedAt, addedKeys: a.addedKeys, addedYanks: a.addedYanks, stopped: a.affected.map((s) => `${s.pipeline}/${s.stage} (${s.plugin})`) }
    },
  }
}

const PLUGIN_ID = new RegExp(PLUGIN_ID_PATTERN)
const SEMVER = new RegExp(SEMVER_PATTERN)

/**
 * The id and version a received or queued cartridge claims, checked before they name any folder:
 * they come from another node or from a bucket, never from a schema-checked request.
 */
function requireRef<T extends { readonly id: string; readonly version: string }>(ref: T): T {
  if (!PLUGIN_ID.test(ref.id) || ref.id.length > 64) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `cartridge id ${JSON.stringify(ref.id).slice(0, 80)} is not a plugin id (like acme.shout)`)
  if (!SEMVER.test(ref.version) || ref.version.length > 128) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `cartridge version ${JSON.stringify(ref.version).slice(0, 80)} of ${ref.id} is not a semantic version`)
  return ref
}

function withoutBundle(p: PendingCartridge): Omit<PendingCartridge, 'bundle'> {
  const { bundle: _, ...rest } = p
  return rest
}
