import { omniError, type OmniError } from '../errors/mod.ts'

/**
 * How many copies of each stream and bucket a NATS cluster keeps: JetStream allows 1 to 5, and
 * an odd count (1, 3, 5) survives the loss of a minority of servers.
 */
export const MAX_REPLICAS = 5

/** The problem with a configured replica count, or undefined when it is one JetStream accepts. */
export function replicasProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_REPLICAS ? undefined : `must be an integer from 1 to ${MAX_REPLICAS}, got ${String(value)}`
}

/** What to do with an existing stream's replica count: the count to set (if any) and what to say. */
export interface ReplicaChange {
  readonly to?: number
  readonly message?: string
}

/**
 * An existing stream grows to the configured replica count, said in a log line; it is never
 * shrunk: fewer copies is a loss of durability an operator must choose by hand, and a forgotten
 * setting (a pod started without it) must not quietly take it away. Unset: nothing changes here.
 */
export function replicaChange(stream: string, existing: number | undefined, configured: number | undefined): ReplicaChange {
  const has = existing ?? 1
  if (configured === undefined || configured === has) return {}
  if (configured > has) return { to: configured, message: `stream ${stream}: replicas raised from ${has} to ${configured} as configured` }
  return {
    message:
      `stream ${stream} keeps its ${has} replicas: the configured ${configured} would lower them, which the platform never does on its own ` +
      `(lower them on the server if that is meant, or configure ${has})`,
  }
}

/** JetStream's answers when a replica count cannot be had: a server running alone, or too few servers (up, or with room). */
const NOT_CLUSTERED = 10074
const NO_PEERS = [10005, 10023] as const

/**
 * The error to throw when JetStream refused a stream or its update for its replica count, naming
 * the stream, the count and the way out; undefined for any other error (rethrow it as it is).
 */
export function replicaRefusal(err: unknown, stream: string, replicas: number | undefined): OmniError | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  if (replicas === undefined || replicas < 2) return undefined
  if (code === NOT_CLUSTERED) {
    return omniError('OMNI_ERR_CONFIG', `stream ${stream}: ${replicas} replicas need a NATS cluster, and this server runs alone: configure 1 (--replicas), or give the cluster's URLs (--nats a,b,c)`, { cause: err })
  }
  // a server of the cluster down a short while: JetStream may still place a copy on it and then
  // not answer within the request's time (measured: one start in two with 1 of 3 servers killed)
  if ((err as { name?: unknown } | undefined)?.name === 'TimeoutError') {
    return omniError('OMNI_ERR_NATS_UNAVAILABLE', `stream ${stream}: JetStream did not answer in time while placing ${replicas} replicas: are ${replicas} servers of the cluster up? (a server lost moments ago may still be given a copy; start again once it is back or known gone)`, { cause: err })
  }
  if (NO_PEERS.includes(code as (typeof NO_PEERS)[number])) {
    return omniError('OMNI_ERR_CONFIG', `stream ${stream}: JetStream could not place ${replicas} replicas (${(err as Error).message}): are ${replicas} servers of the cluster up, each with room for the stream's byte limit?`, { cause: err })
  }
  return undefined
}

/** What the platform's KV and object store openers take: a new bucket's replica count. */
export interface BucketOptions {
  readonly replicas?: number
}

/** The stream behind a KV bucket. */
export const kvStream = (bucket: string) => `KV_${bucket}`
/** The stream behind an object store bucket. */
export const objStream = (bucket: string) => `OBJ_${bucket}`
