import { createServer } from 'node:net'
import { omniError, type OmniError } from '../errors/mod.ts'

/** The error for a taken port, with the two ways out the CLI offers. */
export function portInUseError(host: string, port: number, cause?: unknown): OmniError {
  return omniError(
    'OMNI_ERR_PORT_IN_USE',
    `port ${port} on ${host} is already in use: pass --port with a free port (or 0 to pick one), ` +
      `or --nats nats://${host}:${port} to use the server already listening there`,
    { cause },
  )
}

/**
 * The port named in the server's own "address already in use" log line (its bind lost a race
 * with another process), or undefined when no line says so.
 */
export function portInUseFromLog(lines: readonly string[]): number | undefined {
  for (const line of lines) {
    if (!/address already in use/i.test(line)) continue
    const m = /listen tcp \S*:(\d+)/.exec(line)
    return m ? Number(m[1]) : 0
  }
  return undefined
}

/** Fails with OMNI_ERR_PORT_IN_USE when nothing can listen on host:port right now. */
export async function assertPortFree(host: string, port: number): Promise<void> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(portInUseError(host, port, err))
      else reject(omniError('OMNI_ERR_CONFIG', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
    })
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()))
  })
}
