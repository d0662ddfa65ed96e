import type { JetStreamClient } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'

/** Where a node records which pipelines it runs, so that tools in other processes see the same set. */
export const NODE_BUCKET = 'omni-node'
const RUNNING_KEY = 'pipelines'

/** The pipelines a node runs, as it last recorded them. */
export interface RunningSet {
  readonly pipelines: readonly string[]
  readonly updatedAt: string
}

/** Records the running set after every change of it; the node is its only writer. */
export async function runningSetWriter(js: JetStreamClient): Promise<{ write(pipelines: readonly { readonly name: string }[]): Promise<void> }> {
  const kv = await new Kvm(js).create(NODE_BUCKET, { history: 1 })
  return {
    write: async (pipelines) => {
      const set: RunningSet = { pipelines: pipelines.map((p) => p.name).sort(), updatedAt: new Date().toISOString() }
      await kv.put(RUNNING_KEY, JSON.stringify(set))
    },
  }
}

/** The running set a node recorded; undefined when no node ever ran against this server. */
export async function readRunningSet(js: JetStreamClient): Promise<RunningSet | undefined> {
  const kv = await new Kvm(js).open(NODE_BUCKET).catch(() => undefined)
  const entry = await kv?.get(RUNNING_KEY).catch(() => null)
  if (!entry || entry.operation !== 'PUT') return undefined
  return entry.json<RunningSet>()
}
