// examples.sentiment: a word-list score of data.text, emitted as its own event
// (type sentiment.scored on omni.evt.alpha.sentiment-scored.v1) caused by the event it read.
const SUBJECT = 'omni.evt.alpha.sentiment-scored.v1'
const POSITIVE = new Set(['good', 'great', 'love', 'like', 'thanks', 'thank', 'happy', 'excellent', 'nice', 'awesome', 'perfect', 'wonderful'])
const NEGATIVE = new Set(['bad', 'terrible', 'hate', 'angry', 'awful', 'sad', 'broken', 'worst', 'problem', 'wrong', 'slow', 'refund'])
// context the scored event carries over from the one it scores, when present
const CARRIED = ['instance', 'actor', 'conversation']

function stage(input) {
  const e = input.event
  const text = typeof e.data.text === 'string' ? e.data.text : ''
  const words = text.toLowerCase().match(/[a-z']+/g) ?? []
  let score = 0
  for (const w of words) {
    if (POSITIVE.has(w)) score++
    else if (NEGATIVE.has(w)) score--
  }
  const scored = {
    specversion: '1.0',
    id: `${e.id}.sentiment`,
    source: 'plugin/examples.sentiment',
    type: 'sentiment.scored',
    time: e.time,
    data: { score, label: score > 0 ? 'positive' : score < 0 ? 'negative' : 'neutral', words: words.length },
    tenant: e.tenant,
    visibility: e.visibility,
    idempotencykey: `${e.idempotencykey}.sentiment`,
    causationid: e.id,
    correlationid: e.correlationid ?? e.id,
  }
  for (const field of CARRIED) if (typeof e[field] === 'string') scored[field] = e[field]
  return { type: 'continue', emit: [{ subject: SUBJECT, event: scored }] }
}
