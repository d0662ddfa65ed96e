import { rawRow, type RawPayload } from '../clickhouse/raw-archive.ts'
import { omniError } from '../errors/mod.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import { RAW_MAX_MSG_SIZE, RAW_STREAM } from '../jetstream/topology.ts'
import { rawArchiveId, rawSubject } from '../wire/mod.ts'

export interface ArchivedRaw {
  /** what the normalized envelope carries to point back at the payload: `raw:<rawId>` */
  readonly dataref: string
  readonly rawId: string
  /** the stream sequence; for a duplicate, the sequence of the copy already stored */
  readonly seq: number
  /** true when the stream already held this payload (a provider retry inside the window) */
  readonly duplicate: boolean
}

const encoder = new TextEncoder()

/**
 * Archives a payload exactly as it arrived, before it is normalized, and resolves once
 * JetStream holds it. The message id derives from provider, instance and body, so a provider
 * retry is stored once; the raw recorder copies the stream into ClickHouse.
 */
export async function archiveRaw(publisher: AckPublisher, payload: RawPayload): Promise<ArchivedRaw> {
  const { row, dataref } = rawRow(payload)
  const bytes = encoder.encode(JSON.stringify(row))
  // checked here for a clear error; the stream and the server would refuse it anyway
  if (bytes.length > RAW_MAX_MSG_SIZE) {
    throw omniError('OMNI_ERR_BODY_TOO_LARGE', `the raw ${payload.provider} payload is ${bytes.length} bytes once encoded for the archive; at most ${RAW_MAX_MSG_SIZE} fit`, {
      permanent: true,
    })
  }
  const ack = await publisher.publish(rawSubject(payload.provider, payload.instance), bytes, { msgID: rawArchiveId(row.raw_id), expectStream: RAW_STREAM })
  return { dataref, rawId: row.raw_id, seq: ack.seq, duplicate: ack.duplicate }
}
