import type { EventCatalog } from '../catalog/catalog.ts'
import type { AckPublisher, PubAck } from '../jetstream/publisher-types.ts'
import { EVENTS_STREAM } from '../jetstream/topology.ts'
import { ingestMsgId } from '../wire/mod.ts'
import { prepareEvent, type EventInput, type PrepareOptions, type PreparedEvent } from './prepare.ts'

export interface PublishedEvent extends PreparedEvent {
  readonly ack: PubAck
}

/**
 * Validates and publishes an event with its idempotency key as Nats-Msg-Id: a repeat inside
 * the stream's duplicate window comes back with `ack.duplicate === true` and is stored once.
 */
export async function publishEvent(publisher: AckPublisher, catalog: EventCatalog, input: EventInput, opts?: PrepareOptions): Promise<PublishedEvent> {
  const prepared = prepareEvent(catalog, input, opts)
  const ack = await publisher.publish(prepared.subject, prepared.bytes, { msgID: ingestMsgId(prepared.event.idempotencykey), expectStream: EVENTS_STREAM })
  return { ...prepared, ack }
}
