// What the mesh's design costs before any Omni code runs: the copies an event from A makes on
// its way into B's events stream, made by the servers themselves (JetStream sourcing, no client
// in the path). B's pipeline then runs on them as on received events. Two levels:
// - floor: the events already wait in A's cluster outbox, and B's events stream sources it over
//   the hub (one copy, the least any mesh of streams sourcing streams can do);
// - servers: the events wait in A's events stream, A's outbox sources them (the exporter's copy,
//   done by the server) and B's events stream sources the outbox (the inbox's and the receiver's
//   copies in one): the design's stores with no exporter, no receiver and no checks;
// - exporter: as servers, but A's outbox is filled by the least code an exporter can be
//   (bench/lib/bare-exporter.ts: read the envelope, check its visibility, publish, ack). The
//   visibility boundary must read each envelope before it leaves (the catalog caps each type, and
//   A's events stream holds every visibility under the same subjects), so a server-side copy
//   cannot replace it; this is the cheapest exporter the outbox design can have, with a free receiver.
// A run that reaches less than the target here shows the target is out of reach of the design on
// these cores, whatever the exporter and the receiver cost.
import type { JetStreamManager, StreamSource } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { EVENTS_STREAM } from '../../src/jetstream/topology.ts'
import { meshApiPrefix, meshDeliverSubject, meshOutboxStream, meshOutboxSubject, meshOutboxSubjects, RECEIVED_SUBJECT_PREFIX } from '../../src/wire/mod.ts'
import { startBareExporter, type BareExporter } from '../lib/bare-exporter.ts'
import { MESH_CLUSTER_NAME } from '../lib/mesh-servers.ts'
import type { BoundLevel } from '../lib/waiting-copy.ts'

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

/** A leaf as the bound needs it: its connection (the bare exporter's client) and its manager. */
export interface BoundLeaf {
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
}

/** The bare exporter's durable consumer on A's events stream (removed when the copies stop). */
const BARE_EXPORTER = 'bench-bare-exporter'

/** Running copies: `stop()` removes them and what they left on A, so the next run starts from clean streams. */
export interface Copies {
  stop(): Promise<void>
}

/** Starts the level's copies: from then on A's events move into B's by the servers (and, for `exporter`, the bare exporter). */
export async function startCopies(level: BoundLevel, a: BoundLeaf, b: BoundLeaf): Promise<Copies> {
  let exporter: BareExporter | undefined
  if (level === 'servers') await setSources(a.jsm, meshOutboxStream('cluster'), [{ name: EVENTS_STREAM, subject_transforms: [eventsToOutbox] }])
  if (level === 'exporter') {
    exporter = await startBareExporter(a.nc, a.jsm, { stream: EVENTS_STREAM, consumer: BARE_EXPORTER, filter: BENCH_EVENTS, outboxSubject: (s) => meshOutboxSubject('cluster', MESH_CLUSTER_NAME, 'a1', s) })
  }
  await setSources(b.jsm, EVENTS_STREAM, [outboxSource()])
  return {
    async stop() {
      await exporter?.close()
      await setSources(b.jsm, EVENTS_STREAM, [])
      await setSources(a.jsm, meshOutboxStream('cluster'), [])
      await a.jsm.streams.purge(meshOutboxStream('cluster'))
      // A's exporter already exists (A's node ran once): it must not find these events later
      await a.jsm.streams.purge(EVENTS_STREAM, { filter: BENCH_EVENTS })
    },
  }
}
