import { join } from 'node:path'
import Type, { type Static } from 'typebox'
import { omniError } from '../errors/mod.ts'
import { writeAtomically } from '../util/atomic-write.ts'
import { encodeEnvelope, PAYLOAD_TYPES, signEnvelope, type DsseEnvelope, type SigningKey } from './dsse.ts'
import { KEYID_PATTERN } from './grants.ts'
import { PLUGIN_ID_PATTERN, TIMESTAMP_PATTERN } from './manifest-schema.ts'
import { parseCheckedJson } from './strict-json.ts'

export const REVOCATIONS_FILE = 'revocations.dsse.json'

/**
 * Revoked keys and yanked plugin versions, signed by a root. It expires so that a node cut off
 * from newer lists stops trusting plugins instead of trusting a stale list forever.
 */
export const RevocationListSchema = Type.Object(
  {
    issuedAt: Type.String({ pattern: TIMESTAMP_PATTERN }),
    expiresAt: Type.String({ pattern: TIMESTAMP_PATTERN }),
    revokedKeys: Type.Array(Type.String({ pattern: KEYID_PATTERN })),
    yanked: Type.Array(
      Type.Object(
        { id: Type.String({ pattern: PLUGIN_ID_PATTERN }), version: Type.String({ minLength: 1 }), reason: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type RevocationList = Static<typeof RevocationListSchema>

/** Signs a revocation list with a root key. */
export function createRevocationList(root: SigningKey, list: RevocationList): DsseEnvelope {
  const bytes = Buffer.from(`${JSON.stringify(list, null, 2)}\n`)
  parseRevocationList(bytes, 'revocation list')
  return signEnvelope(PAYLOAD_TYPES.revocations, bytes, root)
}

/** Signs a revocation list and writes it to `<trustDir>/revocations.dsse.json`; returns the file. */
export async function writeRevocationList(trustDir: string, root: SigningKey, list: RevocationList): Promise<string> {
  const envelope = createRevocationList(root, list)
  const file = join(trustDir, REVOCATIONS_FILE)
  // a node loading the store meanwhile reads either list whole, never a half-written one that
  // would refuse every plugin
  await writeAtomically(file, encodeEnvelope(envelope))
  return file
}

/** Parses a verified revocation list payload. */
export function parseRevocationList(payload: Uint8Array, source: string): RevocationList {
  const list = parseCheckedJson<RevocationList>(Buffer.from(payload).toString('utf8'), source, RevocationListSchema, 'OMNI_ERR_PLUGIN_REVOKED')
  for (const field of ['issuedAt', 'expiresAt'] as const) {
    if (Number.isNaN(Date.parse(list[field]))) throw omniError('OMNI_ERR_PLUGIN_REVOKED', `${source}: ${field} "${list[field]}" is not a real date`)
  }
  return Object.freeze(list)
}
