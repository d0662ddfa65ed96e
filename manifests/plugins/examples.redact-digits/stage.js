// examples.redact-digits: masks every run of 6 or more digits in data.text with "•", one per
// digit, so the length stays visible but the number does not travel on.
const LONG_DIGIT_RUN = /\d{6,}/g

function stage(input) {
  const text = input.event.data.text
  if (typeof text !== 'string') return undefined
  const masked = text.replace(LONG_DIGIT_RUN, (run) => '•'.repeat(run.length))
  // nothing to mask: continue unchanged
  if (masked === text) return undefined
  return { type: 'continue', data: { text: masked } }
}
