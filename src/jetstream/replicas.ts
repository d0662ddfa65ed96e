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

/** What the platform's KV and object store openers take: a new bucket's replica count. */
export interface BucketOptions {
  readonly replicas?: number
}

/** The stream behind a KV bucket. */
export const kvStream = (bucket: string) => `KV_${bucket}`
/** The stream behind an object store bucket. */
export const objStream = (bucket: string) => `OBJ_${bucket}`
