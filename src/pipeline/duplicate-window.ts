// How long the events stream's duplicate window must be for outputs to be stored once.
//
// A worker publishes an event's outputs under deterministic ids; the stream drops a repeated id
// only inside its duplicate window. Once the outputs are marked published (src/pipeline/worker.ts,
// #awaitRows) a redelivery never publishes again, whatever the gap. Before the mark, a second
// publish of the same output can come from:
//   - the worker dying after a PubAck: the event is redelivered ack_wait after it was last kept
//     alive, and the dying delivery published at most 2 × MARK_AFTER_MS + one publish timeout
//     before it would have marked or acknowledged;
//   - a failed publish (some outputs may be stored): the event is retried after its backoff,
//     which for output failures is capped at OUTPUTS_RETRY_MAX_MS.
// So the window must exceed both. The default (10 min) does, with ack_wait at its default 30 s,
// leaving about 9.5 min for a node that died to be running again.
import type { JetStreamManager } from '@nats-io/jetstream'
import { DEFAULT_PUBLISH_TIMEOUT_MS } from '../jetstream/publisher.ts'
import { EVENTS_STREAM } from '../jetstream/topology.ts'
import { MARK_AFTER_MS, OUTPUTS_RETRY_MAX_MS } from './worker.ts'


/** The shortest duplicate window under which a redelivery cannot store an output twice. */
export function requiredDuplicateWindowMs(ackWaitMs: number): number {
  return Math.max(ackWaitMs + 2 * MARK_AFTER_MS + DEFAULT_PUBLISH_TIMEOUT_MS, OUTPUTS_RETRY_MAX_MS)
}

/** Another lower bound on the window, from a layer above this one, and what falls short of it. */
export interface WindowRequirement {
  readonly ms: number
  readonly why: string
}

/**
 * Says why, when the events stream's duplicate window (as set on the server: an operator's
 * value counts, and a stream made by an earlier version keeps its own) is too short for the
 * workers' ack_wait or for `also`; undefined when it is long enough for both.
 */
export async function duplicateWindowWarning(jsm: JetStreamManager, ackWaitMs: number, also?: WindowRequirement): Promise<string | undefined> {
  const windowMs = (await jsm.streams.info(EVENTS_STREAM)).config.duplicate_window / 1_000_000
  const required = requiredDuplicateWindowMs(ackWaitMs)
  if (also && windowMs < also.ms) return `stream ${EVENTS_STREAM} has a duplicate window of ${windowMs} ms, shorter than ${also.ms} ms: ${also.why}. Raise streams.duplicateWindowMs, or the stream's duplicate_window`
  if (windowMs >= required) return undefined
  return `stream ${EVENTS_STREAM} has a duplicate window of ${windowMs} ms, shorter than the ${required} ms (ack_wait ${ackWaitMs} ms + ${2 * MARK_AFTER_MS} ms + one publish timeout) within which a worker that dies after publishing an output is redelivered: such an output could be stored twice. Raise streams.duplicateWindowMs or lower worker.ackWaitMs`
}
