import { randomUUID } from 'node:crypto'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { BucketOptions } from './replicas.ts'
import { consumerName, EVENTS_STREAM } from './topology.ts'

/** Where each node records which pipelines it runs, so that tools in other processes see the same set. */
export const NODE_BUCKET = 'omni-node'
const KEY_PREFIX = 'pipelines.'
/** An entry not refreshed for this long belongs to a node that is gone (its bucket's max age). */
export const RUNNING_SET_TTL_MS = 60_000
/** How often a live node refreshes its entry: well inside the TTL, so one missed write does not expire it. */
const REFRESH_MS = RUNNING_SET_TTL_MS / 4

/** The pipelines one node runs, as it last recorded them. */
export interface RunningSet {
  readonly node: string
  readonly pipelines: readonly string[]
  readonly updatedAt: string
}

/** Keeps this node's entry current: on every change, and on a timer while it runs; removed on close. */
export interface RunningSetWriter {
  /**
   * Records the set; never throws (a bucket an operator deleted is made again at the next
   * write): the set only guides tools in other processes, the pipelines run either way.
   */
  write(pipelines: readonly { readonly name: string }[]): Promise<void>
  close(): Promise<void>
}

export function runningSetWriter(js: JetStreamClient, onError: (err: unknown) => void, opts: BucketOptions = {}): RunningSetWriter {
  const node = randomUUID()
  let bucket: Promise<KV> | undefined
  let current: readonly string[] = []
  let closed = false
  const put = async (): Promise<void> => {
    try {
      bucket ??= new Kvm(js).create(NODE_BUCKET, { history: 1, ttl: RUNNING_SET_TTL_MS, ...opts })
      const set: RunningSet = { node, pipelines: current, updatedAt: new Date().toISOString() }
      await (await bucket).put(`${KEY_PREFIX}${node}`, JSON.stringify(set))
    } catch (err) {
      bucket = undefined
      onError(err)
    }
  }
  const timer = setInterval(() => void put(), REFRESH_MS)
  timer.unref()
  return {
    write: async (pipelines) => {
      if (closed) return
      current = pipelines.map((p) => p.name).sort()
      await put()
    },
    close: async () => {
      closed = true
      clearInterval(timer)
      // a node that stops runs nothing: its entry goes now, not when it expires
      await (await bucket)?.delete(`${KEY_PREFIX}${node}`).catch(() => undefined)
    },
  }
}

/** The pipelines the live nodes recorded; undefined when no node has recorded a set. */
export async function readRunningSets(js: JetStreamClient): Promise<readonly RunningSet[] | undefined> {
  const kv = await new Kvm(js).open(NODE_BUCKET).catch(() => undefined)
  if (!kv) return undefined
  const sets: RunningSet[] = []
  const keys = await kv.keys(`${KEY_PREFIX}>`).catch(() => undefined)
  if (!keys) return undefined
  for await (const key of keys) {
    const entry = await kv.get(key).catch(() => null)
    if (entry?.operation === 'PUT') sets.push(entry.json<RunningSet>())
  }
  return sets.length > 0 ? sets : undefined
}

/**
 * Which pipelines run, as a process beside the nodes can tell: the union of what the live nodes
 * recorded. With no node recorded (none runs, or one older than the record), a pipeline counts
 * as running while its durable consumer exists, and `source` says so.
 */
export async function runningPipelines(js: JetStreamClient, jsm: JetStreamManager): Promise<{ readonly isRunning: (pipeline: string) => Promise<boolean>; readonly source: 'recorded' | 'consumers' }> {
  const sets = await readRunningSets(js)
  if (sets) {
    const names = new Set(sets.flatMap((s) => s.pipelines))
    return { isRunning: async (p) => names.has(p), source: 'recorded' }
  }
  return { isRunning: (p) => jsm.consumers.info(EVENTS_STREAM, consumerName(p)).then(() => true, () => false), source: 'consumers' }
}
