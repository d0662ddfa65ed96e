import { randomUUID } from 'node:crypto'
import { DiscardPolicy, type JetStreamManager } from '@nats-io/jetstream'
import { DEFAULT_DUPLICATE_WINDOW_MS, DEFAULT_MAX_MSG_SIZE, isNotFound, upsertStream } from '../jetstream/topology.ts'
import { MESH_OUTBOX_EPOCH_KEY, MESH_VISIBILITIES, meshOutboxStream, meshOutboxSubjects, type MeshVisibility } from '../wire/mod.ts'

/**
 * The byte limit of a new outbox and of each inbox (discard new: a full one pauses, never drops).
 * JetStream reserves every stream's max_bytes against the server's storage (by default 75% of
 * the free disk when it starts), so two outboxes and an inbox per peer at the events stream's
 * 8 GiB would not fit on an ordinary disk: a node with three peers would ask for 56 GiB more.
 */
export const DEFAULT_MESH_MAX_BYTES = 1024 * 1024 * 1024

/** What a node says of one of its outboxes in its hello: which outbox (epoch) and how far it goes. */
export interface OutboxMark {
  readonly epoch: string
  readonly lastSeq: number
}
export type OutboxMarks = Partial<Record<MeshVisibility, OutboxMark>>

const ns = (ms: number) => ms * 1_000_000
const WEEK_MS = 7 * 24 * 3_600_000

/**
 * Creates this node's two outboxes, `MESH_CLUSTER` and `MESH_PUBLIC`, with the events stream's
 * limits: a byte limit that refuses new messages rather than deleting unsent ones, a week of
 * history (what a peer may catch up on after a link cut) and the duplicate window that drops an
 * exporter's redelivery. An existing outbox keeps an operator's limits; its subjects are set.
 * Each outbox gets an epoch (a random id in its metadata) once, when first seen without one.
 */
export async function ensureOutboxes(jsm: JetStreamManager, cluster: string, node: string, replicas?: number): Promise<string[]> {
  const warnings: string[] = []
  for (const vis of MESH_VISIBILITIES) {
    warnings.push(
      ...(await upsertStream(
        jsm,
        { updateExisting: true },
        {
          name: meshOutboxStream(vis),
          required: { subjects: [meshOutboxSubjects(vis, cluster, node)], max_msg_size: DEFAULT_MAX_MSG_SIZE },
          explicit: {},
          defaults: { duplicate_window: ns(DEFAULT_DUPLICATE_WINDOW_MS), max_age: ns(WEEK_MS), max_bytes: DEFAULT_MESH_MAX_BYTES, discard: DiscardPolicy.New },
          ...(replicas !== undefined ? { replicas } : {}),
        },
      )),
    )
    const info = await jsm.streams.info(meshOutboxStream(vis))
    if (!info.config.metadata?.[MESH_OUTBOX_EPOCH_KEY]) {
      await jsm.streams.update(info.config.name, { ...info.config, metadata: { ...info.config.metadata, [MESH_OUTBOX_EPOCH_KEY]: randomUUID() } })
    }
  }
  return warnings
}

/** The epoch and last sequence of each outbox this node has (none before the data path made them). */
export async function readOutboxMarks(jsm: JetStreamManager): Promise<OutboxMarks> {
  const marks: Partial<Record<MeshVisibility, OutboxMark>> = {}
  for (const vis of MESH_VISIBILITIES) {
    const info = await jsm.streams.info(meshOutboxStream(vis)).catch((err: unknown) => {
      if (isNotFound(err)) return undefined
      throw err
    })
    const epoch = info?.config.metadata?.[MESH_OUTBOX_EPOCH_KEY]
    if (info && epoch) marks[vis] = { epoch, lastSeq: info.state.last_seq }
  }
  return marks
}
