import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { omniError } from '../errors/mod.ts'
import { isSupportedVersion, MIN_NATS_VERSION } from './version.ts'

const JS_HINT = 'start nats-server with -js (or a `jetstream {}` block in its config), or let `omni up` start a local one'

/**
 * Checks a connection to a server this process did not start: the version must be at least
 * 2.10 and JetStream must be enabled for the account. Resolves to the server's version.
 */
export async function checkServerVersion(nc: NatsConnection): Promise<string> {
  const where = nc.getServer()
  const info = nc.info
  if (!info) throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `not connected to the NATS server at ${where}`)
  if (!isSupportedVersion(info.version)) {
    throw omniError(
      'OMNI_ERR_NATS_TOO_OLD',
      `the NATS server at ${where} is v${info.version}, older than the required ${MIN_NATS_VERSION}: upgrade it, ` +
        'or let `omni up` start a local one (`make setup` provisions nats-server 2.10+ into .tools/nats)',
    )
  }
  if (info.jetstream !== true) {
    throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `JetStream is not enabled on the NATS server at ${where}: ${JS_HINT}`)
  }
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false })
    await jsm.getAccountInfo()
  } catch (err) {
    throw omniError(
      'OMNI_ERR_NATS_UNAVAILABLE',
      `JetStream is not available to this account on the NATS server at ${where} (${(err as Error).message}): ${JS_HINT}`,
      { cause: err },
    )
  }
  return info.version
}
