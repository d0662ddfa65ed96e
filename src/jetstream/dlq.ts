import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import { tenantAllowed, type TenantScope } from '../envelope/tenants.ts'
import { omniError } from '../errors/mod.ts'
import type { AckPublisher } from './publisher-types.ts'
import { carriedKeyOrigin, deadLetterMsgId, decodeDeadLetter, decodeOrigin, DLQ_HEADERS, NATS_HEADERS, DLQ_SUBJECT_PREFIX, dlqSubject, encodeDeadLetter, encodeOrigin, redriveMsgId, redriveSubject, type DeadLetterMeta, type HeaderMap, type HeaderReader } from '../wire/mod.ts'
import { DLQ_STREAM, EVENTS_STREAM } from './topology.ts'

export interface DeadLetterInfo {
  readonly pipeline: string
  readonly stage: string
  readonly error: string
  readonly attempts: number
}

/**
 * Publishes the message to its pipeline's dead-letter subject and waits for the stream's ack.
 * The message id is derived from the original sequence, so a worker that dies between this and
 * the ack of the original cannot produce a second dead letter for the same event.
 */
export async function deadLetter(publisher: AckPublisher, msg: JsMsg, info: DeadLetterInfo): Promise<void> {
  // a redriven event that fails again keeps naming where it first came from
  const origin = decodeOrigin(msg.headers, { subject: msg.subject, seq: msg.info.streamSequence })
  const headers = { ...encodeDeadLetter({ ...info, originalSubject: origin.subject, originalSeq: origin.seq, failedAt: new Date().toISOString() }), ...carriedKeyOrigin(msg.headers) }
  await publisher.publish(dlqSubject(info.pipeline), msg.data, { msgID: deadLetterMsgId(info.pipeline, msg.info.streamSequence), headers })
}

/** A dead letter as listed: its metadata (headers), its sequence in the DLQ stream and the original bytes. */
export interface DeadLetter extends DeadLetterMeta {
  readonly seq: number
  readonly data: Uint8Array
  /** the event type, when the body is a readable envelope */
  readonly type?: string
  /** the original's emitter and ingest origin headers, sent on with a redrive (its key namespace) */
  readonly keyOrigin: HeaderMap
  /** the event's tenant, when the body is a readable envelope */
  readonly tenant?: string
}

export interface DeadLetterFilter {
  readonly pipeline?: string
  readonly stage?: string
  readonly type?: string
  /** substring of the error message */
  readonly error?: string
  /**
   * only dead letters of these tenants (undefined: every tenant); a body without a readable
   * tenant belongs to none, so only the operator's view shows it
   */
  readonly tenants?: TenantScope
  readonly limit?: number
}

/** Reads dead letters matching the filter, oldest first, without consuming them. */
export async function listDeadLetters(jsm: JetStreamManager, js: JetStreamClient, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const subject = filter.pipeline ? dlqSubject(filter.pipeline) : `${DLQ_SUBJECT_PREFIX}.>`
  const info = await jsm.streams.info(DLQ_STREAM, { subjects_filter: subject })
  const stored = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0)
  if (stored === 0) return []
  // an ordered consumer reads without acknowledging: listing never changes the DLQ
  const consumer = await js.consumers.get(DLQ_STREAM, { filter_subjects: [subject] })
  const out: DeadLetter[] = []
  const limit = filter.limit ?? Number.POSITIVE_INFINITY
  for (let read = 0; read < stored && out.length < limit; read++) {
    const m = await consumer.next({ expires: 2000 })
    if (!m) break
    const letter = toDeadLetter(m.seq, m.headers, m.data)
    if (matches(letter, filter)) out.push(letter)
    if (m.info.pending === 0) break
  }
  await consumer.delete().catch(() => undefined)
  return out
}

/** One dead letter by its sequence in the DLQ stream; undefined once it is redriven (or never was). */
export async function getDeadLetter(jsm: JetStreamManager, seq: number): Promise<DeadLetter | undefined> {
  const m = await jsm.streams.getMessage(DLQ_STREAM, { seq })
  return m ? toDeadLetter(m.seq, m.header, m.data) : undefined
}

function toDeadLetter(seq: number, headers: HeaderReader | undefined, data: Uint8Array): DeadLetter {
  let type: string | undefined
  let tenant: string | undefined
  try {
    const parsed = JSON.parse(new TextDecoder().decode(data)) as { type?: unknown; tenant?: unknown }
    if (typeof parsed.type === 'string') type = parsed.type
    if (typeof parsed.tenant === 'string') tenant = parsed.tenant
  } catch {
    // unreadable bodies are dead letters too; they simply have no type
  }
  return {
    seq,
    ...decodeDeadLetter(headers),
    keyOrigin: carriedKeyOrigin(headers),
    data,
    ...(type ? { type } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
  }
}

function matches(l: DeadLetter, f: DeadLetterFilter): boolean {
  return tenantAllowed(f.tenants, l.tenant) && (!f.stage || l.stage === f.stage) && (!f.type || l.type === f.type) && (!f.error || l.error.includes(f.error))
}

/** Whether a pipeline runs now, so that a dead letter sent back to it is consumed. */
export type IsRunning = (pipeline: string) => boolean | Promise<boolean>

export interface RedriveOptions {
  /** which pipelines run now: only the node knows (a deleted pipeline keeps its consumer) */
  readonly isRunning: IsRunning
  readonly onProgress?: (done: number, total: number) => void
}

/**
 * Sends matching dead letters back to their pipeline only (its redrive subject), then removes
 * them from the DLQ; resolves with what it sent too. Refused with OMNI_ERR_CONFLICT, before anything is sent, when a matching dead
 * letter belongs to a pipeline that does not run: its event would sit unconsumed. Idempotent: the
 * redrive message id is derived from the dead letter's sequence, so running it again after a crash
 * between the publish and the delete is dropped by the stream's duplicate window, and a removed
 * dead letter is never listed again.
 */
export async function redriveDeadLetters(
  jsm: JetStreamManager,
  js: JetStreamClient,
  publisher: AckPublisher,
  filter: DeadLetterFilter,
  options: RedriveOptions,
): Promise<{ redriven: number; duplicates: number; letters: DeadLetter[] }> {
  const letters = await listDeadLetters(jsm, js, filter)
  await requireRunning(letters, options.isRunning)
  let redriven = 0
  let duplicates = 0
  for (const l of letters) {
    const msgID = redriveMsgId(l.pipeline, l.seq)
    const ack = await publisher.publish(redriveSubject(l.pipeline), l.data, { msgID, headers: { ...encodeOrigin({ subject: l.originalSubject, seq: l.originalSeq }), ...l.keyOrigin } })
    if (ack.duplicate) {
      // "already stored" must mean this very letter, sent by an earlier redrive: only then may it leave the DLQ
      await requireStored(jsm, ack.seq, msgID, l)
      duplicates++
    } else redriven++
    await jsm.streams.deleteMessage(DLQ_STREAM, l.seq, false)
    options.onProgress?.(redriven + duplicates, letters.length)
  }
  return { redriven, duplicates, letters }
}

/**
 * The events stream holds, at `seq`, this dead letter's redrive: its id and its bytes. Anything
 * else there (a message that only claims the id) leaves the letter in the DLQ with a conflict.
 */
async function requireStored(jsm: JetStreamManager, seq: number, msgID: string, l: DeadLetter): Promise<void> {
  const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => null)
  const same = stored !== null && stored.header?.get(NATS_HEADERS.msgId) === msgID && Buffer.from(stored.data).equals(Buffer.from(l.data))
  if (same) return
  throw omniError('OMNI_ERR_CONFLICT', `dead letter ${l.seq}: the events stream answered that its redrive ${msgID} is already stored (seq ${seq}), but the message there is not this letter; it stays in the DLQ`)
}

// checked for the whole batch up front, so a pipeline that does not run never leaves a redrive half done
async function requireRunning(letters: readonly DeadLetter[], isRunning: IsRunning): Promise<void> {
  for (const pipeline of new Set(letters.map((l) => l.pipeline))) {
    if (pipeline !== '' && (await isRunning(pipeline))) continue
    const seqs = letters.filter((l) => l.pipeline === pipeline).map((l) => l.seq)
    const whose = pipeline ? `pipeline "${pipeline}", which is not running (removed or renamed?)` : `no pipeline (no ${DLQ_HEADERS.pipeline} header)`
    throw omniError('OMNI_ERR_CONFLICT', `dead letter(s) ${seqs.join(', ')} belong to ${whose}; nothing was redriven, they stay in the DLQ. Start the pipeline, or filter by another pipeline`)
  }
}
