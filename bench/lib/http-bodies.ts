// Request bodies for the HTTP scenario, one unique body per request: a structured CloudEvent of
// the bench type (for the empty route and /v1/events) and an Evolution API messages.upsert
// text message (for the WhatsApp webhook). Built in the load generator's process.

// the same text as the bench events, so the HTTP bodies are as large as the NATS ones
const TEXT = 'hello from omni bench, a short message of about eighty characters in all, ok.'

export type HttpBodyKind = 'cloudevent' | 'evolution'

/** The n-th structured CloudEvent of run `run`: unique id, and data.run + data.n are its idempotency key. */
export function cloudEventBody(run: string, n: number): string {
  return JSON.stringify({
    specversion: '1.0',
    id: `${run}-${n}`,
    source: 'omni://bench/http',
    type: 'bench.tick',
    provider: 'bench',
    instance: 'bench-1',
    datacontenttype: 'application/json',
    data: { run, n, kind: n % 4 === 0 ? 'audio' : 'text', text: TEXT, sentAt: Date.now() },
  })
}

/** The n-th Evolution (v2) `messages.upsert` webhook of run `run`: a text message with a unique key.id. */
export function evolutionBody(run: string, n: number, instance: string): string {
  const seconds = Math.floor(Date.now() / 1000)
  return JSON.stringify({
    event: 'messages.upsert',
    instance,
    data: {
      key: { remoteJid: '5511999990000@s.whatsapp.net', fromMe: false, id: `${run}-${n}` },
      pushName: 'Omni Bench',
      status: 'DELIVERY_ACK',
      message: { conversation: TEXT },
      messageType: 'conversation',
      messageTimestamp: seconds,
      instanceId: 'bench-instance-id',
      source: 'android',
    },
    destination: 'http://127.0.0.1/v1/webhooks/whatsapp/bench-1',
    date_time: new Date(seconds * 1000).toISOString(),
    sender: '5511999991111@s.whatsapp.net',
    server_url: 'http://127.0.0.1:8080',
    apikey: 'bench-evolution-apikey',
  })
}

/** The body builder of a kind; `n` counts up from 0 within a run. */
export function bodyFor(kind: HttpBodyKind, run: string, instance: string): (n: number) => string {
  return kind === 'cloudevent' ? (n) => cloudEventBody(run, n) : (n) => evolutionBody(run, n, instance)
}
