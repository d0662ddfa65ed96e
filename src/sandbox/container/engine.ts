import { Agent } from 'node:http'
import Docker from 'dockerode'
import { omniError } from '../../errors/mod.ts'
import { thrownMessage } from '../result.ts'

/** A connection to the Docker engine, opened on first need and released by close(). */
export interface Engine {
  readonly docker: Docker
  readonly socketPath: string
  /** a signal that aborts an engine call taking longer than the configured bound */
  signal(): AbortSignal
  close(): void
}

/**
 * Opens the engine at `socketPath` and checks it answers. Rejects with
 * OMNI_ERR_SANDBOX_UNAVAILABLE naming the socket when it does not.
 */
export async function openEngine(socketPath: string, timeoutMs: number): Promise<Engine> {
  // an agent of our own, so close() can drop its idle keep-alive sockets
  const agent = new Agent({ keepAlive: true })
  const docker = new Docker({ socketPath, agent } as Docker.DockerOptions)
  const engine: Engine = {
    docker,
    socketPath,
    signal: () => AbortSignal.timeout(timeoutMs),
    close: () => agent.destroy(),
  }
  try {
    await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: engine.signal() })
  } catch (err) {
    engine.close()
    throw unavailable(socketPath, err)
  }
  return engine
}

/** An engine call failed: the engine is gone, hung, or refused. */
export function unavailable(socketPath: string, err: unknown, what = 'is not reachable'): Error {
  return omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `the Docker engine at ${socketPath} ${what}: ${thrownMessage(err)}`, { cause: err })
}
