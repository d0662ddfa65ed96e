import { isAbsolute, resolve } from 'node:path'
import { omniError, type Problem } from '../errors/mod.ts'
import type { NatsCredentials } from './credentials.ts'
import { renderAuthorization, renderTopology, type ServerTopology } from './topology-config.ts'

export interface NatsServerOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string
  /** Client port; default 4222; 0 lets the server pick a free one. */
  port?: number
  /** JetStream store folder, created when missing; also holds the generated config. */
  storeDir: string
  /** JetStream fsync policy: `always` or a duration such as `100ms`, `2m`; server default when unset. */
  syncInterval?: string
  /** nats-server binary; default: env OMNI_NATS_SERVER, .tools/nats/nats-server, then PATH. */
  binary?: string
  /** Largest message in bytes; default 8 MiB (see DEFAULT_MAX_PAYLOAD). */
  maxPayload?: number
  /** Server log file; when unset the log is kept in memory for error reports only. */
  logFile?: string
  serverName?: string
  /** How long to wait for the server to accept connections; default 10 s. */
  readyTimeoutMs?: number
  /** How long `close()` waits after SIGTERM before SIGKILL; default 10 s. */
  stopTimeoutMs?: number
  /** When set, the server admits only this user: no anonymous client connects. */
  auth?: NatsCredentials
  /** a JetStream domain, leaf nodes, more users, monitoring: what a mesh node needs (src/mesh builds it) */
  topology?: ServerTopology
}

export interface ResolvedServerOptions {
  readonly host: string
  readonly port: number
  readonly storeDir: string
  readonly syncInterval: string | undefined
  readonly binary: string | undefined
  readonly maxPayload: number
  readonly logFile: string | undefined
  readonly serverName: string | undefined
  readonly readyTimeoutMs: number
  readonly stopTimeoutMs: number
  readonly auth: NatsCredentials | undefined
  readonly topology: ServerTopology | undefined
}

/**
 * nats-server's own default is 1 MiB, but a raw webhook archive of a 1 MiB body is larger once
 * its row is JSON-encoded (RAW_MAX_MSG_SIZE in src/jetstream/topology.ts); 8 MiB is the most
 * NATS recommends. Streams keep their own smaller max_msg_size (events: 1 MiB).
 */
export const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024

const SYNC_INTERVAL = /^(always|\d+(ns|us|ms|s|m|h))$/
const SERVER_NAME = /^[A-Za-z0-9_.-]+$/

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
}

/** Applies defaults and validates once, reporting every invalid option by name. */
export function resolveServerOptions(opts: NatsServerOptions): ResolvedServerOptions {
  const problems: Problem[] = []
  const bad = (where: string, message: string) => problems.push({ where, message })
  const o = {
    ...opts,
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 4222,
    maxPayload: opts.maxPayload ?? DEFAULT_MAX_PAYLOAD,
    readyTimeoutMs: opts.readyTimeoutMs ?? 10_000,
    stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
  }
  if (typeof o.host !== 'string' || o.host === '' || /[\s"]/.test(o.host)) bad('host', 'must be a host name or IP address')
  if (!isInt(o.port, 0, 65535)) bad('port', 'must be an integer from 0 to 65535')
  if (typeof o.storeDir !== 'string' || o.storeDir === '') bad('storeDir', 'is required')
  if (o.syncInterval !== undefined && !SYNC_INTERVAL.test(o.syncInterval)) {
    bad('syncInterval', "must be 'always' or a duration such as '100ms' or '2m'")
  }
  if (!isInt(o.maxPayload, 1, 64 * 1024 * 1024)) bad('maxPayload', 'must be an integer from 1 to 67108864')
  if (o.serverName !== undefined && !SERVER_NAME.test(o.serverName)) bad('serverName', 'may hold only letters, digits, _ . -')
  if (!isInt(o.readyTimeoutMs, 1, 600_000)) bad('readyTimeoutMs', 'must be a positive integer')
  if (!isInt(o.stopTimeoutMs, 1, 600_000)) bad('stopTimeoutMs', 'must be a positive integer')
  const t = o.topology
  if (t?.domain !== undefined && !SERVER_NAME.test(t.domain)) bad('topology.domain', 'may hold only letters, digits, _ . -')
  if (t && (t.users?.length || t.platformPermissions) && o.auth === undefined) bad('topology.users', 'needs the platform user (auth) beside them')
  if (t?.leafListen && !isInt(t.leafListen.port, 1, 65535)) bad('topology.leafListen.port', 'must be an integer from 1 to 65535 (nats-server does not report a port it picks for leaf nodes)')
  if (t?.monitorPort !== undefined && !isInt(t.monitorPort, 0, 65535)) bad('topology.monitorPort', 'must be an integer from 0 to 65535')
  if (t?.cluster) {
    const c = t.cluster
    if (!SERVER_NAME.test(c.name)) bad('topology.cluster.name', 'may hold only letters, digits, _ . -')
    if (!isInt(c.port, 1, 65535)) bad('topology.cluster.port', 'must be an integer from 1 to 65535 (the other servers must know it)')
    for (const [i, r] of c.routes.entries()) if (!/^nats-route:\/\/[^\s"]+:\d+$/.test(r)) bad(`topology.cluster.routes[${i}]`, `"${r}" is not a route URL (nats-route://host:port)`)
    // JetStream in a cluster tells its servers apart by name
    if (o.serverName === undefined) bad('serverName', 'is required for a server in a cluster (JetStream names its peers by it)')
  }
  if (problems.length > 0) throw omniError('OMNI_ERR_CONFIG', 'invalid nats-server options', { problems })
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(p))
  return Object.freeze({
    host: o.host,
    port: o.port,
    storeDir: abs(o.storeDir),
    syncInterval: o.syncInterval,
    binary: o.binary,
    maxPayload: o.maxPayload,
    logFile: o.logFile === undefined ? undefined : abs(o.logFile),
    serverName: o.serverName,
    readyTimeoutMs: o.readyTimeoutMs,
    stopTimeoutMs: o.stopTimeoutMs,
    auth: o.auth,
    topology: o.topology,
  })
}

/**
 * The nats-server config for these options. Port 0 becomes -1 (the server picks one and
 * reports it in the ports file, so there is no window for another process to take it).
 */
export function renderConfig(o: ResolvedServerOptions, port: number): string {
  const q = (s: string) => JSON.stringify(s)
  const lines = [
    `host: ${q(o.host)}`,
    `port: ${port === 0 ? -1 : port}`,
    `ports_file_dir: ${q(o.storeDir)}`,
  ]
  if (o.serverName !== undefined) lines.push(`server_name: ${q(o.serverName)}`)
  lines.push(`max_payload: ${o.maxPayload}`)
  if (o.logFile !== undefined) lines.push(`log_file: ${q(o.logFile)}`)
  // one user for the platform and its CLI; an anonymous client is refused
  if (o.auth !== undefined) lines.push(...renderAuthorization(o.auth, o.topology))
  lines.push('jetstream {', `  store_dir: ${q(o.storeDir)}`)
  if (o.syncInterval !== undefined) lines.push(`  sync_interval: ${o.syncInterval}`)
  if (o.topology?.domain !== undefined) lines.push(`  domain: ${q(o.topology.domain)}`)
  lines.push('}', ...renderTopology(o.topology), '')
  return lines.join('\n')
}

/** The URL clients use for a server bound to host:port (wildcard binds are reached on loopback). */
export function clientUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `nats://${h.includes(':') ? `[${h}]` : h}:${port}`
}
