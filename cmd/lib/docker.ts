import Docker from 'dockerode'
import { omniError, type OmniErrorCode } from '../../src/errors/mod.ts'

const PING_TIMEOUT_MS = 10_000

/** A client for the engine at `socketPath`, once it answered a ping; `code` names the failure otherwise. */
export async function reachableDocker(socketPath: string, code: OmniErrorCode): Promise<Docker> {
  const docker = new Docker({ socketPath })
  try {
    // dockerode's types do not list the abortSignal its requests accept
    await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) })
  } catch (cause) {
    throw omniError(code, `the Docker engine at ${socketPath} is not reachable (${(cause as Error).message}); start it, or point --docker-socket / $OMNI_DOCKER_SOCKET at its socket`, { cause })
  }
  return docker
}
