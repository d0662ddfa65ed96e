// What the mesh's design costs before any Omni code runs: the copies an event from A makes on
// its way into B's events stream, made by the servers themselves (JetStream sourcing, no client
// in the path). B's pipeline then runs on them as on received events. Two levels:
// - floor: the events already wait in A's cluster outbox, and B's events stream sources it over
//   the hub (one copy, the least any mesh of streams sourcing streams can do);
// - servers: the events wait in A's events stream, A's outbox sources them (the exporter's copy,
//   done by the server) and B's events stream sources the outbox (the inbox's and the receiver's
//   copies in one): the design's stores with no exporter, no receiver and no checks.
// A run that reaches less than the target here shows the target is out of reach of the design on
// these cores, whatever the exporter and the receiver cost.
import type { JetStreamManager, StreamSource } from '@nats-io/jetstream'
import type { Envelope } from '../../src/envelope/schema.ts'
import type { PreparedEvent } from '../../src/ingest/prepare.ts'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { meshApiPrefix, meshDeliverSubject, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects, RECEIVED_SUBJECT_PREFIX } from '../../src/wire/mod.ts'
import { MESH_CLUSTER_NAME } from '../lib/mesh-servers.ts'

export type BoundLevel = 'floor' | 'servers'

/** A's outbox subjects as the received subjects B's mesh pipeline reads (`omni.rcv.cluster.a.a1.…`). */
const outboxToReceived = { src: meshOutboxSubjects('cluster', MESH_CLUSTER_NAME, 'a1'), dest: `${RECEIVED_SUBJECT_PREFIX}.cluster.${MESH_CLUSTER_NAME}.a1.>` }
/** A's bench events into its cluster outbox, under the subjects the exporter gives them (`omni.evt.bench.…` → `omni.mesh.cluster.a.a1.bench.…`). */
const BENCH_EVENTS = 'omni.evt.bench.>'
const eventsToOutbox = { src: BENCH_EVENTS, dest: meshOutboxSubject('cluster', MESH_CLUSTER_NAME, 'a1', BENCH_EVENTS) }

/** B's events stream sourcing A's cluster outbox over the hub, its subjects made received ones. */
function outboxSource(): StreamSource {
  return {
    name: meshOutboxStream('cluster'),
    // its own deliver suffix, which the hub's permissions allow, so it never meets a node's inbox
    external: { api: meshApiPrefix('a1'), deliver: `${meshDeliverSubject(MESH_CLUSTER_NAME, 'a1', 'cluster', 'a2')}.bound` },
    subject_transforms: [outboxToReceived],
  }
}

async function setSources(jsm: JetStreamManager, stream: string, sources: StreamSource[]): Promise<void> {
  const { config } = await jsm.streams.info(stream)
  await jsm.streams.update(stream, { ...config, sources })
}

/** Starts the level's server-side copies: from then on the servers move A's events into B's. */
export async function startCopies(level: BoundLevel, a: JetStreamManager, b: JetStreamManager): Promise<void> {
  if (level === 'servers') await setSources(a, meshOutboxStream('cluster'), [{ name: EVENTS_STREAM, subject_transforms: [eventsToOutbox] }])
  await setSources(b, EVENTS_STREAM, [outboxSource()])
}

/** Removes the copies and what they left on A, so the real mesh run starts from clean streams. */
export async function stopCopies(a: JetStreamManager, b: JetStreamManager): Promise<void> {
  await setSources(b, EVENTS_STREAM, [])
  await setSources(a, meshOutboxStream('cluster'), [])
  await a.streams.purge(meshOutboxStream('cluster'))
  // A's exporter already exists (A's node ran once): it must not find these events later
  await a.streams.purge(EVENTS_STREAM, { filter: BENCH_EVENTS })
}

/**
 * How a level's events wait on A before the copies start: under the subject the copies take them
 * from, and already as B's receiver would store them (origin a1), since no receiver runs to set it.
 */
export function waitingCopy(level: BoundLevel, e: PreparedEvent): { readonly subject: string; readonly bytes: Uint8Array } {
  return {
    subject: level === 'servers' ? e.subject : meshOutboxSubject('cluster', MESH_CLUSTER_NAME, 'a1', e.subject),
    bytes: encoder.encode(JSON.stringify({ ...e.event, origin: 'a1' } satisfies Envelope)),
  }
}
const encoder = new TextEncoder()
