import { chmod, rm } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import type { FailureKind, PluginInput } from '../types.ts'
import { createFrameReader, createFrameWriter } from './frames.ts'

export const RUNNER_HELLO = 'omni-runner/1'
// how often a wait for the runner asks whether its container still runs
const ALIVE_CHECK_MS = 500

/** The runner's answer to one batch: one raw entry per input, or why the batch failed as a whole. */
export type RunReply = { readonly type: 'outputs'; readonly outputs: readonly unknown[] } | { readonly type: 'fail'; readonly kind: FailureKind; readonly message: string }

/** Why a channel stopped: the socket closed, or the runner broke the protocol. */
export interface ChannelLost {
  readonly type: 'lost'
  readonly message: string
}

/** A connection to one container's runner; one batch at a time. */
export interface RunnerChannel {
  /** resolves with the runner's reply, or with `lost` when the connection ends first */
  request(id: number, inputs: readonly PluginInput[]): Promise<RunReply | ChannelLost>
  /** resolves once the connection is gone, for whatever reason */
  readonly lost: Promise<ChannelLost>
  destroy(): void
}

export interface AcceptOptions {
  readonly maxFrameBytes: number
  /** how long to wait for the runner: it needs a moment after the container starts */
  readonly timeoutMs: number
  /** asked now and then while the runner does not answer; false ends the wait (the container exited) */
  readonly alive?: () => Promise<boolean>
}

/** The plugin could not be loaded by the runner (its code is at fault, not the sandbox). */
export class PluginLoadError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PluginLoadError'
  }
}

/**
 * The host's end of a plugin's socket: the host listens, the container's runner connects. The
 * socket lives in a folder the host owns and the container sees read-only, so the container can
 * neither fill that folder nor swap the socket for a link to something else of the host's: the
 * host never connects to a path the container could change.
 */
export interface RunnerListener {
  /** the next runner connection (bounded by `timeoutMs`), once it said hello; PluginLoadError when the plugin cannot load */
  accept(opts: AcceptOptions): Promise<RunnerChannel>
  /** forgets a connection not yet taken (one of a runner that is being restarted) */
  drop(): void
  close(): Promise<void>
}

/** Listens on `socketPath` (in a folder of the host's own; a stale file there is replaced). */
export async function listenForRunner(socketPath: string): Promise<RunnerListener> {
  await rm(socketPath, { force: true })
  const server = createServer()
  let queued: Socket | undefined
  let waiting: ((socket: Socket) => void) | undefined
  // every connection, so close() ends them all (server.close waits for open ones)
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    if (waiting) {
      const take = waiting
      waiting = undefined
      return take(socket)
    }
    // only the latest connection counts: the runner makes one per start
    queued?.destroy()
    queued = socket
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketPath, () => {
      server.off('error', reject)
      resolve()
    })
  })
  // the runner runs as uid 65534; the host-only folder around the plugin's folders keeps local users out
  await chmod(socketPath, 0o666)

  const next = (ms: number): Promise<Socket | undefined> => {
    if (queued) {
      const socket = queued
      queued = undefined
      return Promise.resolve(socket)
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting = undefined
        resolve(undefined)
      }, Math.max(1, ms))
      timer.unref()
      waiting = (socket) => {
        clearTimeout(timer)
        resolve(socket)
      }
    })
  }

  return {
    async accept(opts) {
      const deadline = Date.now() + opts.timeoutMs
      let lastError = 'it did not connect'
      while (Date.now() < deadline) {
        const socket = await next(Math.min(ALIVE_CHECK_MS, deadline - Date.now()))
        if (socket) {
          try {
            return await handshake(socket, opts.maxFrameBytes, deadline - Date.now())
          } catch (err) {
            if (err instanceof PluginLoadError) throw err
            lastError = (err as Error).message
            continue
          }
        }
        if (opts.alive && !(await opts.alive())) {
          lastError = 'its container is not running'
          break
        }
      }
      throw new Error(`the runner did not connect to ${socketPath}: ${lastError}`)
    },
    drop() {
      queued?.destroy()
      queued = undefined
    },
    async close() {
      queued = undefined
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(socketPath, { force: true })
    },
  }
}

function handshake(socket: Socket, maxFrameBytes: number, timeoutMs: number): Promise<RunnerChannel> {
  const reader = createFrameReader(maxFrameBytes)
  const writer = createFrameWriter(maxFrameBytes)
  const lost = Promise.withResolvers<ChannelLost>()
  let pending: { readonly id: number; readonly resolve: (reply: RunReply | ChannelLost) => void } | undefined
  let gone: ChannelLost | undefined
  const hello = Promise.withResolvers<void>()

  const end = (message: string) => {
    if (gone) return
    gone = { type: 'lost', message }
    socket.destroy()
    pending?.resolve(gone)
    pending = undefined
    hello.reject(new Error(message))
    lost.resolve(gone)
  }
  let greeted = false
  const onMessage = (msg: unknown) => {
    const m = typeof msg === 'object' && msg !== null ? (msg as Record<string, unknown>) : {}
    if (!greeted) {
      if (m['hello'] !== RUNNER_HELLO) return end('the runner sent no valid hello')
      greeted = true
      if (typeof m['error'] === 'string') return hello.reject(new PluginLoadError(m['error']))
      return hello.resolve()
    }
    const reply = parseReply(m)
    if (!reply || !pending || m['id'] !== pending.id) return end('the runner sent a reply that breaks the protocol')
    const { resolve } = pending
    pending = undefined
    resolve(reply)
  }
  socket.on('data', (chunk: Buffer) => {
    let messages: unknown[]
    try {
      messages = reader.push(chunk)
    } catch (err) {
      return end(`the runner sent an unreadable frame: ${(err as Error).message}`)
    }
    for (const msg of messages) onMessage(msg)
  })
  socket.on('error', (err) => end(`the runner's socket failed: ${err.message}`))
  socket.on('close', () => end('the runner closed its socket'))

  const timer = setTimeout(() => end('the runner sent no hello in time'), Math.max(1, timeoutMs))
  timer.unref()
  const channel: RunnerChannel = {
    request(id, inputs) {
      if (gone) return Promise.resolve(gone)
      if (pending) throw new Error('one request at a time')
      // FrameTooLarge propagates to the caller, which then knows the batch was never sent
      const frame = writer.encode({ id, inputs })
      const { promise, resolve } = Promise.withResolvers<RunReply | ChannelLost>()
      pending = { id, resolve }
      socket.write(frame)
      return promise
    },
    lost: lost.promise,
    destroy: () => end('closed by the host'),
  }
  return hello.promise.then(
    () => {
      clearTimeout(timer)
      return channel
    },
    (err: unknown) => {
      clearTimeout(timer)
      end((err as Error).message)
      throw err
    },
  )
}

function parseReply(m: Record<string, unknown>): RunReply | undefined {
  if (typeof m['id'] !== 'number') return undefined
  if (Array.isArray(m['outputs'])) return { type: 'outputs', outputs: m['outputs'] }
  if (typeof m['fail'] === 'string' && typeof m['message'] === 'string') {
    const kind = m['fail'] === 'timeout' || m['fail'] === 'invalid-result' ? m['fail'] : 'crashed'
    return { type: 'fail', kind, message: m['message'].slice(0, 2000) }
  }
  return undefined
}
