import { sign, verify, type KeyObject } from 'node:crypto'
import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { omniError } from '../errors/mod.ts'
import { parseStrictJson } from './strict-json.ts'

/** The payload types Omni signs; a verifier always names the one it expects. */
export const PAYLOAD_TYPES = {
  manifest: 'application/vnd.omni.plugin+yaml',
  keyGrant: 'application/vnd.omni.key-grant+json',
  revocations: 'application/vnd.omni.revocations+json',
} as const
export type PayloadType = (typeof PAYLOAD_TYPES)[keyof typeof PAYLOAD_TYPES]

/** Envelopes are checked against this size before anything in them is parsed. */
export const MAX_ENVELOPE_BYTES = 64 * 1024

/** A DSSE envelope (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md). */
export interface DsseEnvelope {
  readonly payloadType: string
  /** standard base64 of the payload bytes */
  readonly payload: string
  readonly signatures: readonly { readonly keyid: string; readonly sig: string }[]
}

/** A private key and what identifies it. */
export interface SigningKey {
  readonly keyid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

/** What an envelope carried once its signature verified: the exact payload bytes and the signer. */
export interface OpenedEnvelope {
  readonly payload: Buffer
  readonly keyid: string
}

export interface OpenOptions {
  /** the file (or object) the bytes came from, named in every error */
  readonly source: string
  readonly payloadType: PayloadType
  /** public key for a key id, or undefined when the caller does not know it */
  readonly keys: (keyid: string) => KeyObject | undefined
}

const EnvelopeSchema = Type.Object(
  {
    payloadType: Type.String(),
    payload: Type.String(),
    signatures: Type.Array(Type.Object({ keyid: Type.String(), sig: Type.String() }, { additionalProperties: false }), { minItems: 1, maxItems: 8 }),
  },
  { additionalProperties: false },
)
const checkEnvelope = Compile(EnvelopeSchema)

/** DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8')
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.byteLength} `), type, Buffer.from(` ${body.byteLength} `), body])
}

/** Signs `payload` as `payloadType` with an ed25519 key. */
export function signEnvelope(payloadType: PayloadType, payload: Uint8Array, key: SigningKey): DsseEnvelope {
  const sig = sign(null, pae(payloadType, payload), key.privateKey)
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [{ keyid: key.keyid, sig: sig.toString('base64') }] }
}

/** The bytes written to a `*.dsse.json` file. */
export function encodeEnvelope(envelope: DsseEnvelope): Buffer {
  return Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8')
}

/**
 * Verifies an envelope and returns its payload, in this order: size before parsing, strict JSON
 * (duplicate keys refused), the exact payload type, then an ed25519 signature by a key the caller
 * knows over the PAE of the decoded payload bytes. The payload is only parsed by the caller, after.
 */
export function openEnvelope(bytes: Uint8Array, opts: OpenOptions): OpenedEnvelope {
  const { source } = opts
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) {
    throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source} is ${bytes.byteLength} bytes, over the ${MAX_ENVELOPE_BYTES}-byte limit for envelopes; refused before parsing`)
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (cause) {
    throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source} is not valid UTF-8`, { cause })
  }
  const value = parseStrictJson(text, source, 'OMNI_ERR_PLUGIN_SIGNATURE')
  if (!checkEnvelope.Check(value)) {
    throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source} is not a DSSE envelope: expected { payloadType, payload, signatures: [{ keyid, sig }] } and nothing else`)
  }
  const env = value as DsseEnvelope
  if (env.payloadType !== opts.payloadType) {
    throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source} has payloadType "${env.payloadType}", expected "${opts.payloadType}"`)
  }
  const payload = strictBase64(env.payload, `${source} payload`)
  const message = pae(env.payloadType, payload)
  const unknown: string[] = []
  for (const s of env.signatures) {
    const key = opts.keys(s.keyid)
    if (!key) {
      unknown.push(s.keyid)
      continue
    }
    const sig = strictBase64(s.sig, `${source} signature of key ${s.keyid}`)
    if (!verify(null, message, key, sig)) {
      throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source}: the signature of key ${s.keyid} does not verify over the payload; the payload or the signature was changed after signing`)
    }
    return { payload, keyid: s.keyid }
  }
  throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${source} is signed by unknown key ${unknown.join(', ')}; no root key or publisher grant in the trust store has that key id`)
}

/** Decodes canonical standard base64 only, so one envelope has exactly one reading. */
function strictBase64(text: string, what: string): Buffer {
  const buf = Buffer.from(text, 'base64')
  if (buf.toString('base64') !== text) throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${what} is not canonical base64`)
  return buf
}
