import { DiscardPolicy, type JetStreamManager } from '@nats-io/jetstream'
import { DEFAULT_DUPLICATE_WINDOW_MS, DEFAULT_MAX_BYTES, DEFAULT_MAX_MSG_SIZE, upsertStream } from '../jetstream/topology.ts'
import { MESH_VISIBILITIES, meshOutboxStream, meshOutboxSubjects } from '../wire/mod.ts'

const ns = (ms: number) => ms * 1_000_000
const WEEK_MS = 7 * 24 * 3_600_000

/**
 * Creates this node's two outboxes, `MESH_CLUSTER` and `MESH_PUBLIC`, with the events stream's
 * limits: a byte limit that refuses new messages rather than deleting unsent ones, a week of
 * history (what a peer may catch up on after a link cut) and the duplicate window that drops an
 * exporter's redelivery. An existing outbox keeps an operator's limits; its subjects are set.
 */
export async function ensureOutboxes(jsm: JetStreamManager, cluster: string, node: string): Promise<string[]> {
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
          defaults: { duplicate_window: ns(DEFAULT_DUPLICATE_WINDOW_MS), max_age: ns(WEEK_MS), max_bytes: DEFAULT_MAX_BYTES, discard: DiscardPolicy.New },
        },
      )),
    )
  }
  return warnings
}
