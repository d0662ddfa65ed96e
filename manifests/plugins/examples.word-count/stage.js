// examples.word-count: adds wordCount, the number of whitespace-separated words in data.text.
function stage(input) {
  const text = typeof input.event.data.text === 'string' ? input.event.data.text.trim() : ''
  return { type: 'continue', data: { wordCount: text === '' ? 0 : text.split(/\s+/u).length } }
}
