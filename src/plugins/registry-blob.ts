import Type, { type Static } from 'typebox'
import { omniError } from '../errors/mod.ts'
import { bundlePathProblem } from './paths.ts'
import { parseCheckedJson } from './strict-json.ts'
import type { VerifiedPlugin } from './verify.ts'

export const BUNDLE_FORMAT = 'omni.plugin.bundle/v1'

/** A plugin as the registry stores it: the envelope and the code files, byte for byte. */
export interface PluginBundle {
  readonly envelope: Buffer
  readonly files: ReadonlyMap<string, Buffer>
}

const BlobSchema = Type.Object(
  {
    format: Type.Literal(BUNDLE_FORMAT),
    envelope: Type.String(),
    files: Type.Array(Type.Object({ path: Type.String(), data: Type.String() }, { additionalProperties: false }), { maxItems: 256 }),
  },
  { additionalProperties: false },
)
type Blob = Static<typeof BlobSchema>

/** Encodes a verified plugin's envelope and verified file bytes as one JSON blob. */
export function encodeBundle(v: VerifiedPlugin): Uint8Array {
  const blob: Blob = {
    format: BUNDLE_FORMAT,
    envelope: v.envelope.toString('base64'),
    files: [...v.files].map(([path, bytes]) => ({ path, data: bytes.toString('base64') })),
  }
  return Buffer.from(JSON.stringify(blob), 'utf8')
}

/**
 * Decodes a blob fetched from the registry. Nothing in it is trusted yet: paths are checked here,
 * before anything is written, and the bundle is verified once installed.
 */
export function decodeBundle(bytes: Uint8Array, source: string): PluginBundle {
  const blob = parseCheckedJson<Blob>(Buffer.from(bytes).toString('utf8'), source, BlobSchema, 'OMNI_ERR_PLUGIN_MANIFEST')
  const files = new Map<string, Buffer>()
  for (const f of blob.files) {
    const why = bundlePathProblem(f.path)
    if (why) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${source}: file path ${why}`)
    if (files.has(f.path)) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `${source}: file "${f.path}" appears twice`)
    files.set(f.path, Buffer.from(f.data, 'base64'))
  }
  return { envelope: Buffer.from(blob.envelope, 'base64'), files }
}
