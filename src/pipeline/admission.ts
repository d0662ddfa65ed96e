import type { Envelope, Visibility } from '../envelope/schema.ts'
import { widerThan } from '../envelope/schema.ts'
import { NODE_ORIGIN, parseMeshSubject, RECEIVED_SUBJECT_PREFIX } from '../wire/mod.ts'

/** What the pipeline layer needs of one catalog entry to admit an event; the catalog satisfies it. */
export interface AdmissionEntry {
  readonly visibility: Visibility
  /** set when only the node itself publishes the type: how it does (see reservedTypeMessage) */
  readonly reserved?: string
  dataProblems(data: unknown): readonly { readonly where: string; readonly message: string }[]
}

/**
 * Why an event that did not come from a pipeline breaks the catalog, as HTTP ingest would have
 * refused it: an unknown type, data its schema refuses, or a visibility wider than the type's.
 * Undefined when it passes. A producer publishing straight onto NATS skips the ingest checks, so
 * the worker runs these before any stage sees the event.
 */
export function catalogRefusal(entry: AdmissionEntry | undefined, event: Envelope): string | undefined {
  if (!entry) return `event type "${event.type}" is not in the catalog`
  const problems = catalogProblems(entry, event).map((p) => `${p.where}: ${p.message}`)
  return problems.length > 0 ? `invalid ${event.type} event: ${problems.join('; ')}` : undefined
}

/**
 * Why a producer may not send an event of a reserved type: the node publishes it itself, on an
 * internal path (its cartridge service, its mesh audit), never a client, a webhook, `omni
 * publish`, a producer on NATS or a stage.
 */
export function reservedTypeMessage(type: string, how: string): string {
  return `${type} is published by the node itself: ${how}`
}

/**
 * Why an event a producer put on the stream (not a pipeline's output) is of a type only the node
 * publishes, or undefined. The node's own publishes carry its ingest origin; what the mesh
 * receiver admitted sits under omni.rcv.> (checked by originRefusal).
 */
export function reservedRefusal(entry: AdmissionEntry | undefined, event: Envelope, subject: string, ingestOrigin: string): string | undefined {
  if (entry?.reserved === undefined || ingestOrigin === NODE_ORIGIN || subject.startsWith(`${RECEIVED_SUBJECT_PREFIX}.`)) return undefined
  return reservedTypeMessage(event.type, entry.reserved)
}

/**
 * What the catalog entry of an event's type refuses in it: its data (the type's schema) and a
 * visibility wider than the type's. The one check behind HTTP ingest, a producer on NATS and
 * what stages emit.
 */
export function catalogProblems(entry: AdmissionEntry, event: Envelope): { where: string; message: string }[] {
  const problems = [...entry.dataProblems(event.data)]
  // the catalog sets how far a type may travel; a producer may narrow it, never widen it
  if (widerThan(event.visibility, entry.visibility)) problems.push({ where: '$.visibility', message: `may be at most "${entry.visibility}" for ${event.type} (the catalog's visibility); a producer may narrow it, not widen it` })
  return problems
}

/**
 * Why an event's `origin` cannot be believed, or undefined. Only the mesh receiver sets it, and
 * only on events it stores under `omni.rcv.<vis>.<cluster>.<origin>.…`: a producer on NATS that
 * sets it, or writes under omni.rcv.> without it, or names another node, is refused.
 */
export function originRefusal(event: Envelope, subject: string): string | undefined {
  const received = subject.startsWith(`${RECEIVED_SUBJECT_PREFIX}.`)
  if (!received) return event.origin === undefined ? undefined : `origin "${event.origin}": origin is set by the receiving node; a producer may not set it`
  const node = parseMeshSubject(subject)?.node
  if (event.origin === undefined || event.origin !== node) return `${subject} holds events received from ${node ?? 'another node'}, but the event's origin is ${event.origin === undefined ? 'not set' : `"${event.origin}"`}: origin is set by the receiving node`
  return undefined
}
