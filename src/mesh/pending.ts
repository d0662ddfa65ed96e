import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { BucketOptions } from '../jetstream/replicas.ts'
import Type, { type Static } from 'typebox'
import { omniError } from '../errors/mod.ts'
import { readJsonEntry } from '../plugins/kv-json.ts'

/** KV bucket of verified cartridges from other nodes waiting for a person (sovereignty L1), one per plugin id. */
export const PENDING_BUCKET = 'omni_cartridges_pending'

const BundleSchema = Type.Object({ format: Type.Literal('omni.plugin.bundle/v1'), envelope: Type.String(), files: Type.Array(Type.Object({ path: Type.String(), data: Type.String() })) })

const PendingSchema = Type.Object({
  id: Type.String(),
  version: Type.String(),
  serial: Type.Integer({ minimum: 1 }),
  tier: Type.String(),
  keyid: Type.String(),
  signer: Type.String(),
  digest: Type.String(),
  /** the node it was received from, and that node's cluster */
  origin: Type.String(),
  cluster: Type.String(),
  /** the id of the received `cartridge.published` event */
  event: Type.String(),
  receivedAt: Type.String(),
  runtime: Type.String(),
  capabilities: Type.Record(Type.String(), Type.Unknown()),
  bundle: BundleSchema,
})
/** A queued cartridge: what the person reviews, and the bundle approve installs (verified again then). */
export type PendingCartridge = Static<typeof PendingSchema>

export interface PendingCartridges {
  /** queues `p`, replacing a queued older serial of the same id; a queued newer serial stays */
  put(p: PendingCartridge): Promise<'queued' | 'kept-newer'>
  get(id: string): Promise<PendingCartridge | undefined>
  list(): Promise<PendingCartridge[]>
  remove(id: string): Promise<void>
}

/** Opens (creating if needed) the pending bucket of this node's domain. */
export async function openPendingCartridges(js: JetStreamClient, opts: BucketOptions = {}): Promise<PendingCartridges> {
  const kv = await new Kvm(js).create(PENDING_BUCKET, { history: 1, description: 'cartridges from other nodes waiting for a person to approve (mesh sovereignty L1)', ...opts })
  const get = async (id: string) => (await read(kv, id))?.value
  return {
    async put(p) {
      const queued = await get(p.id)
      if (queued && queued.serial > p.serial) return 'kept-newer'
      await kv.put(p.id, JSON.stringify(p))
      return 'queued'
    },
    get,
    async list() {
      const out: PendingCartridge[] = []
      for await (const key of await kv.keys()) {
        const p = await get(key)
        if (p) out.push(p)
      }
      return out.sort((a, b) => (a.id < b.id ? -1 : 1))
    },
    async remove(id) {
      await kv.delete(id)
    },
  }
}

function read(kv: KV, id: string) {
  if (!/^[a-z0-9.-]{1,64}$/.test(id)) throw omniError('OMNI_ERR_CONFIG', `"${id}" is not a plugin id (like acme.shout)`)
  return readJsonEntry<PendingCartridge>(kv, id, PendingSchema, 'OMNI_ERR_PLUGIN_MANIFEST')
}
