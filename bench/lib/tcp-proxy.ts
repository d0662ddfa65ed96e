// A TCP proxy on loopback that can cut a link and restore it (the tests' fixture too): what a network fault between a leaf
// and its hub looks like to both servers (connections reset, new ones refused for a while).
import { createConnection, createServer, type Socket } from 'node:net'

export interface TcpProxy {
  /** the loopback port the proxy listens on: give it to the side that connects */
  readonly port: number
  /** connections made through the proxy so far (a reconnect after a cut counts again) */
  connections(): number
  /** resets every open connection and refuses new ones until `restore()` */
  cut(): void
  /** lets connections through again */
  restore(): void
  readonly isCut: boolean
  /** stops listening and resets every connection; idempotent */
  close(): Promise<void>
}

/** Starts a proxy from a free loopback port to `target` (a port alone: on 127.0.0.1). */
export async function startTcpProxy(to: number | { readonly host: string; readonly port: number }): Promise<TcpProxy> {
  const target = typeof to === 'number' ? { host: '127.0.0.1', port: to } : to
  const open = new Set<Socket>()
  let cut = false
  let made = 0
  const server = createServer((client) => {
    // refused: a connection accepted and reset at once, so the caller sees it fail immediately
    if (cut) return void client.on('error', () => undefined).resetAndDestroy()
    made++
    const upstream = createConnection({ host: target.host, port: target.port, noDelay: true })
    // without it Nagle's algorithm holds small writes until the peer's delayed ACK: up to 40 ms a hop
    client.setNoDelay(true)
    open.add(client)
    open.add(upstream)
    const drop = () => {
      open.delete(client)
      open.delete(upstream)
      if (!client.destroyed) client.destroy()
      if (!upstream.destroyed) upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as { port: number }
  const resetAll = () => {
    for (const s of open) if (!s.destroyed) s.resetAndDestroy()
    open.clear()
  }
  let closing: Promise<void> | undefined
  return {
    port,
    connections: () => made,
    get isCut() {
      return cut
    },
    cut() {
      cut = true
      resetAll()
    },
    restore() {
      cut = false
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        cut = true
        resetAll()
        server.close(() => resolve())
      })
      return closing
    },
  }
}
