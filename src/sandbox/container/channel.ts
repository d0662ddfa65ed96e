import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FailureKind, PluginInput } from '../types.ts'
import { createFrameReader, createFrameWriter } from './frames.ts'

export const RUNNER_HELLO = 'omni-runner/1'
// a runner normally listens within a few hundred ms of its start
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

export interface ConnectOptions {
  readonly socketPath: string
  readonly maxFrameBytes: number
  /** how long to keep trying: the runner needs a moment after the container starts */
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
 * Connects to a runner's socket, retrying until it listens (bounded by `timeoutMs`), then waits
 * for its hello. Rejects with PluginLoadError when the runner reports the plugin cannot load.
 */
export async function connectRunner(opts: ConnectOptions): Promise<RunnerChannel> {
  const deadline = Date.now() + opts.timeoutMs
  let lastError = 'no attempt'
  let nextCheck = Date.now() + ALIVE_CHECK_MS
  for (let delay = 10; Date.now() < deadline; delay = Math.min(100, delay * 2)) {
    try {
      const socket = await openSocket(opts.socketPath, deadline - Date.now())
      return await handshake(socket, opts.maxFrameBytes, deadline - Date.now())
    } catch (err) {
      if (err instanceof PluginLoadError) throw err
      lastError = (err as Error).message
    }
    if (opts.alive && Date.now() >= nextCheck) {
      if (!(await opts.alive())) break
      nextCheck = Date.now() + ALIVE_CHECK_MS
    }
    // ref'd: a load waiting on this must keep the process alive
    await sleep(delay)
  }
  throw new Error(`the runner did not answer on ${opts.socketPath}: ${lastError}`)
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path)
    const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), Math.max(1, timeoutMs))
    timer.unref()
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
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
