import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { BucketOptions } from '../jetstream/replicas.ts'
import Type, { type Static } from 'typebox'
import { omniError } from '../errors/mod.ts'
import { isRevisionConflict, readJsonEntry } from './kv-json.ts'
import { SHA256_PATTERN } from './manifest-schema.ts'
import type { VerifiedPlugin } from './verify.ts'

export const HIGH_WATER_BUCKET = 'omni_plugin_hwm'
const MAX_ATTEMPTS = 10

const HighWaterSchema = Type.Object({
  serial: Type.Integer({ minimum: 1 }),
  digest: Type.String({ pattern: SHA256_PATTERN }),
  version: Type.Optional(Type.String()),
  at: Type.Optional(Type.String()),
})
/** The highest serial seen for a plugin id, and the digest of the manifest that carried it. */
export type HighWaterMark = Static<typeof HighWaterSchema>

/** What `check` did: first sight of the id, a newer serial recorded, or the same manifest again. */
export type HighWaterResult =
  | { readonly type: 'first'; readonly mark: HighWaterMark }
  | { readonly type: 'newer'; readonly mark: HighWaterMark; readonly previous: HighWaterMark }
  | { readonly type: 'same'; readonly mark: HighWaterMark }

/** Per-plugin serial high-water marks shared by every node through a KV bucket. */
export interface HighWaterMarks {
  /**
   * Refuses a plugin older than the highest serial seen, or carrying the highest serial with
   * another digest (OMNI_ERR_PLUGIN_ROLLBACK); records a newer one with compare-and-set, so once
   * any node has seen serial n, no node accepts anything below it.
   */
  check(v: VerifiedPlugin): Promise<HighWaterResult>
  /** The same judgement as `check`, recording nothing: for a plugin a person has yet to approve. */
  judge(v: VerifiedPlugin): Promise<void>
  get(id: string): Promise<HighWaterMark | undefined>
}

/** Opens (creating if needed) the high-water bucket. */
export async function openHighWaterMarks(js: JetStreamClient, opts: BucketOptions = {}): Promise<HighWaterMarks> {
  const kv = await new Kvm(js).create(HIGH_WATER_BUCKET, { history: 1, ...opts })
  return {
    check: (v) => check(kv, v),
    judge: async (v) => {
      const seen = await read(kv, v.manifest.id)
      if (seen) judgeAgainst(seen.value, v)
    },
    get: async (id) => (await read(kv, id))?.value,
  }
}

function read(kv: KV, id: string) {
  return readJsonEntry<HighWaterMark>(kv, id, HighWaterSchema, 'OMNI_ERR_PLUGIN_ROLLBACK')
}

async function check(kv: KV, v: VerifiedPlugin): Promise<HighWaterResult> {
  const { id, serial, version } = v.manifest
  const mark: HighWaterMark = { serial, digest: v.digest, version, at: new Date().toISOString() }
  // judged before any write: a serial below or equal to one seen is refused
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const seen = await read(kv, id)
    try {
      if (!seen) {
        await kv.create(id, JSON.stringify(mark))
        return { type: 'first', mark }
      }
      if (judgeAgainst(seen.value, v) === 'same') return { type: 'same', mark: seen.value }
      await kv.update(id, JSON.stringify(mark), seen.revision)
      return { type: 'newer', mark, previous: seen.value }
    } catch (err) {
      // another node recorded a mark in between: read it again and judge against it
      if (!isRevisionConflict(err)) throw err
    }
  }
  throw omniError('OMNI_ERR_PLUGIN_ROLLBACK', `could not record the serial of ${id} after ${MAX_ATTEMPTS} attempts: other nodes kept changing it`)
}

/** Throws OMNI_ERR_PLUGIN_ROLLBACK when `v` is below `prev` or re-signs its serial; says whether it is the same manifest or a newer one. */
function judgeAgainst(prev: HighWaterMark, v: VerifiedPlugin): 'same' | 'newer' {
  const { id, serial, version } = v.manifest
  const was = `serial ${prev.serial}${prev.version ? ` (version ${prev.version})` : ''}`
  if (serial < prev.serial) {
    throw omniError('OMNI_ERR_PLUGIN_ROLLBACK', `${id}@${version} has serial ${serial}, older than ${was} already seen; refusing a rollback`)
  }
  if (serial === prev.serial) {
    if (v.digest === prev.digest) return 'same'
    throw omniError('OMNI_ERR_PLUGIN_ROLLBACK', `${id}@${version} has serial ${serial}, the same as the one already seen, but another manifest digest (${v.digest}, expected ${prev.digest}); a re-signed manifest needs a higher serial`)
  }
  return 'newer'
}
