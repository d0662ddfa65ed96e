import type { KeyObject } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Type, { type Static } from 'typebox'
import { omniError } from '../errors/mod.ts'
import { encodeEnvelope, PAYLOAD_TYPES, signEnvelope, type DsseEnvelope, type SigningKey } from './dsse.ts'
import { keyIdOf, parsePublicKey, publicKeyPem } from './keys.ts'
import { TierSchema, TIMESTAMP_PATTERN } from './manifest-schema.ts'
import { parseCheckedJson } from './strict-json.ts'

export const KEYID_PATTERN = '^[0-9a-f]{32}$'
export const GRANT_NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]*$'

/** A root's statement that a publisher key may sign plugins up to `maxTier` until `expiresAt`. */
export const KeyGrantSchema = Type.Object(
  {
    keyid: Type.String({ pattern: KEYID_PATTERN }),
    publicKey: Type.String({ minLength: 1, maxLength: 4096 }),
    name: Type.String({ pattern: GRANT_NAME_PATTERN, maxLength: 64 }),
    maxTier: TierSchema,
    expiresAt: Type.String({ pattern: TIMESTAMP_PATTERN }),
  },
  { additionalProperties: false },
)
export type KeyGrant = Readonly<Static<typeof KeyGrantSchema>>

/** What a root grants; the key id is derived from the public key. */
export type KeyGrantInput = Omit<KeyGrant, 'keyid' | 'publicKey'> & { readonly publicKey: KeyObject }

/** Signs a key grant with a root key. */
export function createKeyGrant(root: SigningKey, grant: KeyGrantInput): DsseEnvelope {
  const payload: KeyGrant = { keyid: keyIdOf(grant.publicKey), publicKey: publicKeyPem(grant.publicKey), name: grant.name, maxTier: grant.maxTier, expiresAt: grant.expiresAt }
  const bytes = Buffer.from(`${JSON.stringify(payload, null, 2)}\n`)
  parseKeyGrant(bytes, `grant ${grant.name}`)
  return signEnvelope(PAYLOAD_TYPES.keyGrant, bytes, root)
}

/** Signs a key grant and writes it to `<trustDir>/publishers/<name>.dsse.json`; returns the file. */
export async function writeKeyGrant(trustDir: string, root: SigningKey, grant: KeyGrantInput): Promise<string> {
  const envelope = createKeyGrant(root, grant)
  const dir = join(trustDir, 'publishers')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${grant.name}.dsse.json`)
  await writeFile(file, encodeEnvelope(envelope))
  return file
}

/** Parses a verified grant payload; its key must be ed25519 and match its key id. */
export function parseKeyGrant(payload: Uint8Array, source: string): KeyGrant {
  const grant = parseCheckedJson<KeyGrant>(Buffer.from(payload).toString('utf8'), source, KeyGrantSchema, 'OMNI_ERR_PLUGIN_UNTRUSTED')
  const actual = keyIdOf(parsePublicKey(grant.publicKey, `${source} publicKey`))
  if (actual !== grant.keyid) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${source}: keyid ${grant.keyid} does not match its publicKey, whose key id is ${actual}`)
  if (Number.isNaN(Date.parse(grant.expiresAt))) throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${source}: expiresAt "${grant.expiresAt}" is not a real date`)
  return Object.freeze(grant)
}
