import { omniError, type OmniError } from '../errors/mod.ts'

/** JetStream's answer when a stream's byte limit does not fit in what the server may store. */
const STORAGE_RESOURCES_EXCEEDED = 10047

/**
 * The error to throw when JetStream refused to create or grow `stream` because its byte limit
 * does not fit: the server reserves every stream's max_bytes against its max_file_store (75% of
 * the disk that was free when it started, unless configured). Names the stream, its limit and the
 * ways out; undefined for any other error (rethrow it as it is).
 */
export function storageRefusal(err: unknown, stream: string, maxBytes: number | undefined): OmniError | undefined {
  if ((err as { code?: unknown } | undefined)?.code !== STORAGE_RESOURCES_EXCEEDED) return undefined
  const limit = maxBytes !== undefined && maxBytes > 0 ? `its byte limit of ${gib(maxBytes)}` : 'its byte limit'
  return omniError(
    'OMNI_ERR_CONFIG',
    `stream ${stream}: the NATS server has no room to reserve ${limit} (JetStream reserves every stream's limit against its storage, by default 75% of the disk free when the server started): ` +
      'lower --stream-max-bytes / --raw-max-bytes (a mesh also reserves 1 GiB per outbox and per peer inbox), free disk space, or raise the server\'s max_file_store',
    { cause: err },
  )
}

const gib = (bytes: number) => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(bytes % 1024 ** 3 === 0 ? 0 : 1)} GiB` : `${bytes} bytes`)
