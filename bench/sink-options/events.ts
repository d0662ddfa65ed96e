// The events of the sink-options experiment: chat messages as a webhook adapter makes them, with
// the rows the product's sink writes for each (src/clickhouse/rows.ts): the ingested event, the
// pipeline's output, and one outcome per stage of the bench pipeline (trust → enrich → classify).
// Deterministic for a seed, so every option gets exactly the same rows.
import { eventRow, outcomeRows, type EventRow, type OutcomeRow } from '../../src/clickhouse/rows.ts'
import type { Envelope } from '../../src/envelope/schema.ts'
import type { StageOutcome } from '../../src/pipeline/executor.ts'

/** What the sink writes for one event: five rows today. */
export interface EventRows {
  readonly input: EventRow
  readonly output: EventRow
  readonly outcomes: readonly OutcomeRow[]
}

export const PIPELINE = 'whatsapp-personal'
const STAGES = new Map([
  ['trust', { uses: 'guard.trust' }],
  ['enrich', { uses: 'transform.enrich' }],
  ['classify', { uses: 'transform.classify' }],
])
export const TENANTS = ['acme', 'globex', 'initech'] as const
export const INSTANCES = ['phone-1', 'phone-2', 'phone-3', 'phone-4'] as const
const KINDS = ['text', 'text', 'text', 'audio', 'image', 'unknown'] as const
/** ordinary words; RARE_WORD appears in about one message in 200, so text search is selective */
const WORDS = 'the a meeting tomorrow at noon please send me report thanks ok see you soon call later office lunch project update agenda weekly notes sure great idea'.split(' ')
export const RARE_WORD = 'Invoice'
/** events are spread over this many hours from START, in order */
const START = Date.UTC(2026, 10, 22, 0, 0, 0)
const SPAN_MS = 24 * 3600_000

/** A small deterministic generator (mulberry32): the same seed gives every option the same rows. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The rows of events 0..n-1 of a run, built lazily batch by batch (n may be a million). */
export function eventMaker(n: number, seed = 15): (i: number) => EventRows {
  const recorded = Date.UTC(2026, 10, 23)
  return (i) => {
    const r = random(seed * 1_000_003 + i)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
    const tenant = pick(TENANTS)
    const instance = pick(INSTANCES)
    const kind = pick(KINDS)
    const words = Array.from({ length: 18 + Math.floor(r() * 22) }, () => pick(WORDS))
    if (r() < 0.005) words.splice(Math.floor(r() * words.length), 0, `${RARE_WORD} #${i}`)
    const actor = `55119${String(Math.floor(r() * 1000)).padStart(8, '0')}`
    const msgId = `3EB0${i.toString(16).toUpperCase().padStart(12, '0')}`
    const data: Record<string, unknown> = {
      kind,
      providerMessageId: msgId,
      fromSelf: r() < 0.1,
      forwarded: r() < 0.05,
      ...(kind === 'audio' || kind === 'image' ? { media: { mimetype: kind === 'audio' ? 'audio/ogg; codecs=opus' : 'image/jpeg', seconds: Math.round(r() * 600) / 10, ref: `raw:media/${msgId}` } } : { text: words.join(' ') }),
      ...(r() < 0.2 ? { quotedMessageId: `3EB0${Math.floor(r() * 1e9).toString(16).toUpperCase()}` } : {}),
      _provider: { event: 'messages.upsert', pushName: `user ${actor.slice(-3)}`, remoteJid: `${actor}@s.whatsapp.net`, messageTimestamp: Math.floor((START + (i / n) * SPAN_MS) / 1000) },
    }
    const time = new Date(START + Math.floor((i / n) * SPAN_MS)).toISOString()
    const input: Envelope = {
      specversion: '1.0',
      id: `evt-${seed}-${i}`,
      source: `omni://webhook/whatsapp/${instance}`,
      type: 'message.received',
      time,
      data,
      tenant,
      instance,
      provider: 'whatsapp',
      visibility: 'local',
      idempotencykey: `whatsapp|${instance}|${msgId}`,
      correlationid: `corr-${i}`,
      actor,
      conversation: `conv-${actor.slice(-4)}`,
      dataref: `raw:${seed}-${i}`,
    }
    const origin = `webhook:whatsapp:${instance}`
    const seq = 2 * i + 1
    const trustFlag = kind === 'unknown'
    const stages: StageOutcome[] = [
      { stage: 'trust', type: 'ran', ms: r(), ...(trustFlag ? { labels: { trust: 'flag', trustReason: 'unmapped message kind' } } : {}) },
      { stage: 'enrich', type: 'ran', ms: r(), labels: { enriched: { playbook: 'personal' } } },
      { stage: 'classify', type: 'ran', ms: r(), labels: { class: kind === 'audio' ? 'voice' : 'conversation' } },
    ]
    const output: Envelope = { ...input, id: `out-${seed}-${i}`, causationid: input.id, source: 'omni://pipeline/whatsapp-personal' }
    return {
      input: eventRow(input, { subject: 'omni.evt.ingest.message-received.v1', seq, emittedBy: '', pipelines: [PIPELINE], origin }, recorded),
      output: eventRow(output, { subject: 'omni.cmd.archive.message-received.v1', seq: seq + 1, emittedBy: PIPELINE, pipelines: [], origin }, recorded),
      outcomes: outcomeRows({ event: input, pipeline: PIPELINE, seq, attempt: 1, stages: STAGES, origin }, stages, undefined, recorded),
    }
  }
}
