// The three trivial transforms of the hand-written pipeline, standing for the bench pipeline's
// trust → enrich → classify (bench/fixtures/pipeline.yaml) as a user would write them in plain
// JavaScript: one JSON.parse per event, the object changed in place, one JSON.stringify.
// Nothing from Omni: no envelope check, no catalog, no CEL, no outcome records.

/** The fields of a bench event these transforms read or write; the rest passes through. */
export interface HandEvent {
  id: string
  data: { text?: unknown; kind?: unknown; playbook?: string; meta?: { origin?: string } }
  class?: string
  [field: string]: unknown
}

/** The longest text the trust rule lets through, as in the bench pipeline's guard.trust rule. */
export const MAX_TEXT = 2000

/** trust: refuses an oversized text; returns why, or undefined when the event may go on. */
export function trust(e: HandEvent): string | undefined {
  return typeof e.data.text === 'string' && e.data.text.length > MAX_TEXT ? 'oversized text' : undefined
}

/** enrich: the bench pipeline's static `set: { playbook: bench, meta.origin: omni-bench }`. */
export function enrich(e: HandEvent): void {
  e.data.playbook = 'bench'
  e.data.meta = { ...e.data.meta, origin: 'omni-bench' }
}

/** classify: the bench pipeline's rules, first match wins, `signal` otherwise. */
export function classify(e: HandEvent): void {
  e.class = e.data.kind === 'text' ? 'conversation' : e.data.kind === 'audio' ? 'voice' : 'signal'
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** What one event becomes: the output's bytes and id, or the reason it was refused. */
export type Transformed = { readonly type: 'output'; readonly id: string; readonly bytes: Uint8Array } | { readonly type: 'refused'; readonly reason: string }

/** Parses once, runs the three transforms, stringifies once. Throws on bytes that are not an event. */
export function transform(bytes: Uint8Array): Transformed {
  const e = JSON.parse(decoder.decode(bytes)) as HandEvent
  if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || typeof e.data !== 'object' || e.data === null) {
    throw new Error('not a bench event: an object with a string id and a data object is expected')
  }
  const refused = trust(e)
  if (refused !== undefined) return { type: 'refused', reason: refused }
  enrich(e)
  classify(e)
  return { type: 'output', id: e.id, bytes: encoder.encode(JSON.stringify(e)) }
}
