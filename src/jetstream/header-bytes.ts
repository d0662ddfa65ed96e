// A publish's NATS headers as bytes, made without the client's MsgHdrs. Building one per publish
// (a map, each key checked and each value checked by `set`, then `encode()`) cost about 3 µs
// on these machines against about 1 µs for this, and every output and ingest publish pays it.
// nats.js's publish reads nothing of its `headers` option but `encode()` (@nats-io/nats-core,
// protocol.js `publish`), so an object with that one method carries the bytes; the publisher
// test round-trips them through a real server, so a client that starts reading more fails there.
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'

const encoder = new TextEncoder()
/** What MsgHdrs accepts in a header name: printable ASCII without ':' */
const NAME = /^[!-9;-~]+$/
/** What MsgHdrs refuses in a value: a line break would start a header of its own */
const BREAK = /[\r\n]/

/** Bytes ready for the wire, offered where the client takes MsgHdrs. */
class EncodedHeaders {
  readonly #bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }
  encode(): Uint8Array {
    return this.#bytes
  }
}

/**
 * The headers `entries` then each of `last` (the id and expectations, which win over an entry of
 * the same name), encoded as MsgHdrs encodes them: values trimmed, in that order. A name or value
 * MsgHdrs would refuse goes through MsgHdrs, so it is refused with the client's own error.
 */
export function encodeHeaders(entries: Readonly<Record<string, string>> | undefined, last: Readonly<Record<string, string | undefined>>): MsgHdrs {
  let text = 'NATS/1.0\r\n'
  let valid = true
  if (entries) {
    for (const k in entries) {
      if (Object.hasOwn(last, k) && last[k] !== undefined) continue
      const v = entries[k] as string
      valid &&= NAME.test(k) && !BREAK.test(v)
      text += `${k}: ${v.trim()}\r\n`
    }
  }
  for (const k of Object.keys(last)) {
    const v = last[k]
    if (v === undefined) continue
    valid &&= NAME.test(k) && !BREAK.test(v)
    text += `${k}: ${v.trim()}\r\n`
  }
  if (!valid) return viaClient(entries, last)
  return new EncodedHeaders(encoder.encode(`${text}\r\n`)) as unknown as MsgHdrs
}

/** The client's own MsgHdrs, which throws its InvalidArgumentError on what it refuses. */
function viaClient(entries: Readonly<Record<string, string>> | undefined, last: Readonly<Record<string, string | undefined>>): MsgHdrs {
  const h = natsHeaders()
  if (entries) for (const k in entries) h.set(k, entries[k] as string)
  for (const k of Object.keys(last)) if (last[k] !== undefined) h.set(k, last[k] as string)
  return h
}
