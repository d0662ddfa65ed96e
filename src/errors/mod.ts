/**
 * One registry of stable error codes. Every error Omni Fabric raises on purpose carries one of
 * these codes, so callers across process or sandbox boundaries recognise it by `code`, never by
 * `instanceof` alone. The README documents each code; a test keeps the two in step.
 */
export const ERROR_CODES = {
  OMNI_ERR_CONFIG: { status: 400, summary: 'invalid option or configuration value' },
  OMNI_ERR_YAML: { status: 400, summary: 'a manifest is not well-formed YAML' },
  OMNI_ERR_MANIFEST: { status: 400, summary: 'a manifest (catalog or pipeline) breaks its schema or rules' },
  OMNI_ERR_EVENT_INVALID: { status: 400, summary: 'an event envelope or its data breaks the schema' },
  OMNI_ERR_EVENT_TOO_LARGE: { status: 413, summary: 'an event is larger than the allowed payload size' },
  OMNI_ERR_UNKNOWN_EVENT_TYPE: { status: 400, summary: 'an event type is not in the catalog' },
  OMNI_ERR_EVENT_RESERVED: { status: 403, summary: 'an event type only the node itself publishes (cartridge events) was sent by a producer' },
  OMNI_ERR_STAGE_FAILED: { status: 500, summary: 'a stage threw while processing an event' },
  OMNI_ERR_STAGE_TIMEOUT: { status: 504, summary: 'a stage took longer than its timeout' },
  OMNI_ERR_NATS_UNAVAILABLE: { status: 503, summary: 'the NATS server cannot be reached' },
  OMNI_ERR_NATS_TOO_OLD: { status: 500, summary: 'the NATS server is older than the minimum supported version' },
  OMNI_ERR_NATS_BINARY_MISSING: { status: 500, summary: 'no nats-server binary was found' },
  OMNI_ERR_PORT_IN_USE: { status: 500, summary: 'a port the local server needs is already taken' },
  OMNI_ERR_PUBLISH_FAILED: { status: 502, summary: 'JetStream did not acknowledge a publish' },
  OMNI_ERR_STREAM_FULL: { status: 507, summary: 'a JetStream stream (the events or the raw archive) reached its byte or message limit and refused new data; nothing acknowledged was deleted' },
  OMNI_ERR_CLICKHOUSE_UNAVAILABLE: { status: 503, summary: 'ClickHouse cannot be reached or refused a request for a reason that may pass' },
  OMNI_ERR_DATA_LOCKED: { status: 409, summary: 'the data folder is held by another running process' },
  OMNI_ERR_CLICKHOUSE_LOCKED: { status: 409, summary: 'the embedded ClickHouse data folder is in use by another process' },
  OMNI_ERR_MESH_NAME_TAKEN: { status: 409, summary: 'another running process already speaks on the mesh as this node (the same node name and credentials used twice)' },
  OMNI_ERR_MIGRATION: { status: 500, summary: 'a ClickHouse schema migration failed or was changed after it was applied' },
  OMNI_ERR_QUERY_INVALID: { status: 400, summary: 'an event query has an invalid filter or cursor' },
  OMNI_ERR_PLUGIN_MANIFEST: { status: 400, summary: 'a plugin manifest or bundle breaks its schema or rules (paths, files, sizes, digests, image by tag)' },
  OMNI_ERR_PLUGIN_SIGNATURE: { status: 403, summary: 'a plugin envelope is unsigned, oversized, malformed, or its signature does not verify' },
  OMNI_ERR_PLUGIN_UNTRUSTED: { status: 403, summary: 'a plugin is signed by a key the trust store does not trust for its tier, cluster or tenant' },
  OMNI_ERR_PLUGIN_REVOKED: { status: 403, summary: "a plugin's key is revoked, its version is yanked, or the revocation list is missing or expired" },
  OMNI_ERR_PLUGIN_EXPIRED: { status: 403, summary: 'a plugin manifest is expired or not valid yet' },
  OMNI_ERR_PLUGIN_ROLLBACK: { status: 409, summary: "a plugin's serial is older than, or equal with another digest to, the highest one seen" },
  OMNI_ERR_PLUGIN_APPROVAL: { status: 403, summary: 'a plugin asks for new or wider capabilities that nobody approved' },
  OMNI_ERR_PLUGIN_FAILED: { status: 500, summary: 'a sandboxed plugin threw, timed out, ran out of memory, crashed or returned an invalid result' },
  OMNI_ERR_SANDBOX_UNAVAILABLE: { status: 503, summary: 'a sandbox (the isolate process or the container engine) cannot start' },
  OMNI_ERR_SANDBOX_INSECURE: { status: 500, summary: 'a sandbox setting (no network, read-only, limits, user) did not take effect, so the plugin is not run' },
  OMNI_ERR_IMAGE_BUILD: { status: 500, summary: 'the platform image could not be built or saved (no Docker engine, a missing input, the engine refused it)' },
  OMNI_ERR_WEBHOOK_INVALID: { status: 400, summary: 'a webhook body is not JSON or not a shape its provider adapter can read' },
  OMNI_ERR_WEBHOOK_AUTH: { status: 401, summary: "a webhook's shared secret or signature is missing or does not match" },
  OMNI_ERR_WEBHOOK_UNKNOWN_SOURCE: { status: 404, summary: 'no webhook source is declared for this provider and instance' },
  OMNI_ERR_UNAUTHORIZED: { status: 401, summary: 'the request has no bearer token, or one the API does not know' },
  OMNI_ERR_FORBIDDEN: { status: 403, summary: "the bearer token's scopes do not include the one this route needs" },
  OMNI_ERR_TENANT_FORBIDDEN: { status: 403, summary: 'an event names a tenant the bearer token may not act for' },
  OMNI_ERR_NOT_FOUND: { status: 404, summary: 'the route or the resource does not exist' },
  OMNI_ERR_CONFLICT: { status: 409, summary: 'a change conflicts with what is there: a file the API may not replace or remove, dead letters of a pipeline that no longer runs' },
  OMNI_ERR_BODY_INVALID: { status: 400, summary: 'a request body, query or header breaks the route schema' },
  OMNI_ERR_BODY_TOO_LARGE: { status: 413, summary: 'a request body is larger than the API accepts' },
  OMNI_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'a request body has a content type the route does not accept' },
  OMNI_ERR_RATE_LIMITED: { status: 429, summary: 'a token (or an address, without a token) sent more requests than its rate limit allows' },
  OMNI_ERR_QUOTA_EXCEEDED: { status: 429, summary: 'a token sent more events or more bytes in the current window than its quota allows' },
  OMNI_ERR_UNAVAILABLE: { status: 503, summary: 'a part the route needs (NATS, ClickHouse) is not configured or not reachable' },
  OMNI_ERR_MESH_HUB_UNREACHABLE: { status: 503, summary: "none of a mesh node's hub URLs accepted a connection at start (and startOffline is not set)" },
  OMNI_ERR_MESH_CREDENTIALS_REFUSED: { status: 401, summary: "a mesh node's hub refused its leaf-node login (Authorization Violation): the credentials file is not the one the hub lists for this node" },
  OMNI_ERR_INTERNAL: { status: 500, summary: 'an unexpected error; the log has the details' },
} as const

export type OmniErrorCode = keyof typeof ERROR_CODES

/** Marker that survives structured cloning and module duplication, unlike `instanceof`. */
export const OMNI_ERROR = Symbol.for('omni.fabric.error')

/** A problem located in a file, for validators that report every problem at once. */
export interface Problem {
  /** `file:line:col` or a JSON path when no file is involved */
  readonly where: string
  readonly message: string
}

export interface OmniErrorOptions {
  cause?: unknown
  problems?: readonly Problem[]
  /** true when retrying the same input can never succeed (goes straight to the dead letters) */
  permanent?: boolean
  /** seconds after which a retry may succeed (the HTTP API sends it as Retry-After) */
  retryAfterS?: number
}

export class OmniError extends Error {
  readonly [OMNI_ERROR] = true
  readonly code: OmniErrorCode
  readonly status: number
  readonly problems: readonly Problem[]
  readonly permanent: boolean
  readonly retryAfterS: number | undefined

  constructor(code: OmniErrorCode, message: string, opts: OmniErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'OmniError'
    this.code = code
    this.status = ERROR_CODES[code].status
    this.problems = opts.problems ?? []
    this.permanent = opts.permanent ?? false
    this.retryAfterS = opts.retryAfterS
  }

  /** The message followed by one line per problem, as the CLI prints it. */
  describe(): string {
    if (this.problems.length === 0) return `${this.code}: ${this.message}`
    return [`${this.code}: ${this.message}`, ...this.problems.map((p) => `  ${p.where}: ${p.message}`)].join('\n')
  }
}

/** Creates an error with a stable code. */
export function omniError(code: OmniErrorCode, message: string, opts?: OmniErrorOptions): OmniError {
  return new OmniError(code, message, opts)
}

/** Recognises an Omni error by its marker, also across realms and duplicated modules. */
export function isOmniError(err: unknown): err is OmniError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[OMNI_ERROR] === true
}

/** Recognises an error by code, whether or not it is an OmniError instance. */
export function hasCode(err: unknown, code: OmniErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/**
 * A failure of the platform's own NATS (a bucket or stream that does not answer while its
 * servers elect a leader or restart), not of the event: retried without using up the pipeline's
 * deliveries, never dead-lettered.
 */
export function isOutage(err: unknown): boolean {
  return isOmniError(err) && err.code === 'OMNI_ERR_NATS_UNAVAILABLE' && !err.permanent
}

/** One line for logs, dead-letter headers and failure reasons: an Omni error with its problems, else the message. */
export function describeError(err: unknown): string {
  if (isOmniError(err)) return err.describe().replace(/\n\s*/g, '; ')
  return err instanceof Error ? err.message : String(err)
}
