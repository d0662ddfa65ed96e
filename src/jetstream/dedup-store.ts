import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import type { BucketOptions } from './replicas.ts'
import { stableHash } from '../envelope/derive.ts'
import { omniError } from '../errors/mod.ts'
import { whileElecting } from './while-electing.ts'

/** A key-value store with expiry, used for dedup beyond the stream's duplicate window. */
export interface DedupStore {
  /** true when the key was marked and has not expired */
  has(key: string): Promise<boolean>
  mark(key: string): Promise<void>
}

export const DEDUP_BUCKET = 'omni-dedup'
export const DEFAULT_DEDUP_TTL_MS = 24 * 3_600_000

/**
 * Dedup markers beyond the stream's duplicate window: a KV bucket whose entries expire after
 * `ttlMs` (the bucket's max age; nats-server 2.10 has no per-key TTL, so one TTL serves every
 * key). Keys are hashed, since they may hold any byte; `guard.dedup` scopes them by pipeline.
 */
export async function createDedupStore(js: JetStreamClient, ttlMs = DEFAULT_DEDUP_TTL_MS, opts: BucketOptions = {}): Promise<DedupStore> {
  const kv = await whileElecting(() => new Kvm(js).create(DEDUP_BUCKET, { ttl: ttlMs, history: 1, ...opts }))
  const marker = new Uint8Array([49])
  return {
    has: async (k) => (await kv.get(stableHash(k)).catch(unavailable))?.operation === 'PUT',
    mark: async (k) => {
      await kv.put(stableHash(k), marker).catch(unavailable)
    },
  }
}

/**
 * Keys are digests, so a failing read or write is the bucket not answering (no responders while
 * its stream elects a leader, a timeout, JetStream restarting): an outage, which the worker
 * retries without using up the event's deliveries, rather than a fault of the event.
 */
function unavailable(err: unknown): never {
  throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `the dedup store (KV bucket ${DEDUP_BUCKET}) did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}
