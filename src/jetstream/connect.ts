import { connect, type NatsConnection } from '@nats-io/transport-node'
import { omniError } from '../errors/mod.ts'
import { checkServerVersion, type NatsCredentials } from '../server/mod.ts'

export interface ConnectNatsOptions {
  /** Connection name shown in the server's monitoring. */
  name?: string
  /** the user and password the server requires (the platform's own server always does) */
  credentials?: NatsCredentials
}

/** The servers of a `--nats` value: one URL, or a cluster's URLs separated by commas. */
export function natsUrls(url: string): string[] {
  return url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '')
}

/**
 * Connects to NATS (one URL, or a cluster's URLs separated by commas: every one is tried, so a
 * server that is down at start or later does not stop the client) and checks the server is 2.10+ with JetStream. Fails with
 * OMNI_ERR_NATS_UNAVAILABLE naming the URL, or OMNI_ERR_NATS_TOO_OLD.
 */
export async function connectNats(url: string, opts: ConnectNatsOptions = {}): Promise<NatsConnection> {
  let nc: NatsConnection
  // an empty list would make the client connect to its default, localhost, whatever server is there
  if (natsUrls(url).length === 0) throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `"${url}" has no NATS URL in it (nats://host:port, or a cluster's URLs separated by commas)`)
  try {
    // a long-running worker rides out server restarts: retry forever, quickly, and keep
    // publishes made while disconnected in the client's buffer (their acks time out and retry)
    nc = await connect({ servers: natsUrls(url), name: opts.name ?? 'omni', maxReconnectAttempts: -1, reconnectTimeWait: 250, ...(opts.credentials ? { user: opts.credentials.user, pass: opts.credentials.password } : {}) })
  } catch (err) {
    const why = (err as Error).message
    const fix = /authori[sz]ation|auth/i.test(why)
      ? opts.credentials
        ? 'the server refused these credentials: check the --nats-credentials file'
        : 'the server requires credentials: pass --nats-credentials FILE ($OMNI_NATS_CREDENTIALS; omni up writes them to <data>/nats-credentials)'
      : 'start a local server with `omni up`, or pass --nats with the URL of a running one'
    throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `cannot connect to NATS at ${url} (${why}): ${fix}`, { cause: err })
  }
  try {
    await checkServerVersion(nc)
  } catch (err) {
    await nc.close().catch(() => {})
    throw err
  }
  return nc
}
