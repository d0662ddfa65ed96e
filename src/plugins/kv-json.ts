import { JetStreamApiCodes } from '@nats-io/jetstream'
import type { KV, KvEntry } from '@nats-io/kv'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { omniError, type OmniErrorCode } from '../errors/mod.ts'

/**
 * The JSON value of a KV entry, checked against a schema; undefined when the key is absent or
 * deleted. A value that breaks the schema is an error, never silently treated as absent.
 */
export async function readJsonEntry<T>(kv: KV, key: string, schema: TSchema, code: OmniErrorCode): Promise<{ value: T; revision: number } | undefined> {
  const entry: KvEntry | null = await kv.get(key)
  if (!entry || entry.operation !== 'PUT') return undefined
  let value: unknown
  try {
    value = entry.json<unknown>()
  } catch (cause) {
    throw omniError(code, `${entry.bucket}/${key} does not hold JSON`, { cause })
  }
  let validator = validators.get(schema)
  if (!validator) validators.set(schema, (validator = Compile(schema)))
  if (!validator.Check(value)) throw omniError(code, `${entry.bucket}/${key} holds a value of the wrong shape`)
  return { value: value as T, revision: entry.revision }
}

/** True for the error JetStream returns when a compare-and-set lost to another writer. */
export function isRevisionConflict(err: unknown): boolean {
  // JetStreamApiError exposes the server's err_code as `code`; `create` on an existing key reports the same
  const code = (err as { code?: unknown } | null)?.code
  return code === JetStreamApiCodes.StreamWrongLastSequence || code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
}

const validators = new WeakMap<TSchema, ReturnType<typeof Compile>>()
