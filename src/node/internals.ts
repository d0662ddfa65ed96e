import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClickHouseSink } from '../clickhouse/sink.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import type { MeshRuntime } from '../mesh/runtime.ts'
import type { PipelineRunner } from './runner.ts'
import type { OmniNode } from './node.ts'

/**
 * The handles a node is built from. Not part of its surface (mod.ts does not export this): only
 * tests and the benchmark look inside, to inject faults and to check what was stored.
 */
export interface NodeInternals {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly publisher: AckPublisher
  readonly sink: ClickHouseSink | undefined
  readonly runner: PipelineRunner
  /** the node's part of the mesh, when it is in one */
  readonly mesh?: MeshRuntime
}

const internals = new WeakMap<OmniNode, NodeInternals>()

export function recordInternals(node: OmniNode, parts: NodeInternals): void {
  internals.set(node, parts)
}

/** The handles of a node started in this process. */
export function nodeInternals(node: OmniNode): NodeInternals {
  const parts = internals.get(node)
  if (!parts) throw new Error('not a node started in this process')
  return parts
}
