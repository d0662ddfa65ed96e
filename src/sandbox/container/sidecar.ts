import type Docker from 'dockerode'
import { omniError } from '../../errors/mod.ts'
import { BatchFailure } from '../isolate-failures.ts'
import { thrownMessage } from '../result.ts'
import type { FailureKind, PluginInput } from '../types.ts'
import { type ChannelLost, listenForRunner, PluginLoadError, type RunnerChannel, type RunnerListener, type RunReply } from './channel.ts'
import { type Engine, unavailable } from './engine.ts'
import type { PluginFolders } from './folders.ts'
import { FrameTooLarge } from './frames.ts'
import { callTimeoutMs, type ContainerRuntimeConfig } from './options.ts'
import { createOptions, heapMb, insecureSettings, type SidecarSpec } from './settings.ts'

/**
 * creating → starting → running; a timeout or crash: running → broken/restarting → running;
 * close(): any → closed.
 */
export type SidecarState = 'creating' | 'starting' | 'running' | 'broken' | 'restarting' | 'closed'

/** One plugin's long-running container and the connection to its runner. */
export interface Sidecar {
  containerId(): string | undefined
  state(): SidecarState
  /** creates the container, checks its settings, starts it and waits for the runner's hello */
  start(): Promise<void>
  /** one batch; a whole-call failure rejects with a BatchFailure, a closed sidecar with an OmniError */
  /** `started` is called once the container is up and the request goes out (see SandboxCall) */
  call(inputs: readonly PluginInput[], started?: () => void): Promise<readonly unknown[]>
  /** removes the container (forced) and the plugin's folders; idempotent */
  close(): Promise<void>
}

export interface SidecarDeps {
  readonly engine: Engine
  readonly config: ContainerRuntimeConfig
  readonly spec: SidecarSpec
  readonly folders: PluginFolders
}

export function createSidecar(deps: SidecarDeps): Sidecar {
  return new SidecarImpl(deps)
}

// restarts that fail in a row wait this long, doubling, before the next try
const RETRY_MIN_MS = 1000
const RETRY_MAX_MS = 30_000
// how long a crashed runner's container may take to be seen as stopped
const EXIT_WAIT_MS = 2000

class SidecarImpl implements Sidecar {
  readonly #engine: Engine
  readonly #config: ContainerRuntimeConfig
  readonly #spec: SidecarSpec
  readonly #folders: PluginFolders
  #state: SidecarState = 'creating'
  #container: Docker.Container | undefined
  #created: Promise<unknown> = Promise.resolve()
  #channel: RunnerChannel | undefined
  #listener: RunnerListener | undefined
  #restarting: Promise<RunnerChannel> | undefined
  #failedRestarts = 0
  #retryAt = 0
  #retryReason = ''
  #seq = 0
  #closing: Promise<void> | undefined

  constructor(deps: SidecarDeps) {
    this.#engine = deps.engine
    this.#config = deps.config
    this.#spec = deps.spec
    this.#folders = deps.folders
  }

  containerId(): string | undefined {
    return this.#container?.id
  }

  state(): SidecarState {
    return this.#state
  }

  async start(): Promise<void> {
    const { docker, socketPath } = this.#engine
    const created = docker.createContainer({ ...createOptions(this.#spec), abortSignal: this.#engine.signal() } as Docker.ContainerCreateOptions)
    this.#created = created.catch(() => {})
    try {
      this.#container = await created
    } catch (err) {
      throw unavailable(socketPath, err, `refused to create the container of plugin ${this.#spec.pluginId}`)
    }
    this.#throwIfClosed()
    const problems = insecureSettings(await this.#inspect(), this.#spec)
    if (problems.length > 0) {
      throw omniError('OMNI_ERR_SANDBOX_INSECURE', `plugin ${this.#spec.pluginId}: container settings did not take effect: ${problems.map((p) => `${p.where} ${p.message}`).join('; ')}`, {
        problems,
        permanent: true,
      })
    }
    this.#state = 'starting'
    // the host listens before the runner starts; the runner connects to it
    this.#listener = await listenForRunner(this.#folders.socketFile)
    this.#throwIfClosed()
    await this.#engineCall('could not start the container', (abortSignal) => this.#container!.start({ abortSignal }))
    const channel = await this.#connect()
    this.#throwIfClosed(channel)
    this.#adopt(channel)
    this.#log('info', 'plugin container started')
  }

  async call(inputs: readonly PluginInput[], started?: () => void): Promise<readonly unknown[]> {
    this.#throwIfClosed()
    const channel = await this.#ready()
    // a restart of the container before this point is no work of the events in the call
    started?.()
    const id = ++this.#seq
    let request: Promise<RunReply | ChannelLost>
    try {
      request = channel.request(id, inputs)
    } catch (err) {
      if (err instanceof FrameTooLarge) throw new BatchFailure('unavailable', `a batch of ${inputs.length} events is too large to send: ${err.message}`)
      throw err
    }
    const ms = callTimeoutMs(this.#spec.limits, this.#config)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms)
      timer.unref()
    })
    const reply = await Promise.race([request, late])
    clearTimeout(timer)
    this.#throwIfClosed()
    if (reply === 'timeout') {
      this.#log('warn', `a call took longer than ${ms} ms: restarting the container`)
      this.#restartSoon()
      throw new BatchFailure('timeout', `plugin ${this.#spec.pluginId} gave no answer within ${ms} ms; its container was restarted`)
    }
    if (reply.type === 'lost') {
      const { kind, message } = await this.#diagnose(reply.message)
      this.#throwIfClosed()
      this.#log('warn', `runner lost (${kind}): ${message}`)
      throw new BatchFailure(kind, message)
    }
    if (reply.type === 'fail') throw new BatchFailure(reply.kind, `plugin ${this.#spec.pluginId}: ${reply.message}`)
    if (reply.outputs.length !== inputs.length) throw new BatchFailure('invalid-result', `the runner returned ${reply.outputs.length} results for ${inputs.length} events`)
    return reply.outputs
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    this.#state = 'closed'
    this.#channel?.destroy()
    this.#channel = undefined
    await this.#listener?.close()
    // a create in flight must land before its container can be removed
    await this.#created
    const container = this.#container
    if (container) {
      try {
        await container.remove({ force: true, v: true, abortSignal: this.#engine.signal() })
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) this.#log('warn', `could not remove the container: ${thrownMessage(err)}`)
      }
    }
    await this.#folders.remove()
  }

  /** The live connection, restarting the container first when it is broken. */
  async #ready(): Promise<RunnerChannel> {
    if (!this.#restarting) {
      if (this.#channel) return this.#channel
      if (Date.now() < this.#retryAt) throw new BatchFailure('unavailable', `plugin ${this.#spec.pluginId}'s container could not be restarted: ${this.#retryReason}`)
      this.#restartSoon()
    }
    try {
      return await this.#restarting!
    } catch (err) {
      this.#throwIfClosed()
      throw new BatchFailure('unavailable', `plugin ${this.#spec.pluginId}'s container could not be restarted: ${thrownMessage(err)}`)
    }
  }

  #restartSoon(): void {
    this.#channel?.destroy()
    this.#channel = undefined
    if (this.#restarting) return
    const restarting = this.#restart()
    this.#restarting = restarting
    // nobody may wait for it (a timeout restarts ahead of the next call): a failure is recorded
    // in #retryAt, not thrown here
    void restarting
      .catch(() => {})
      .finally(() => {
        if (this.#restarting === restarting) this.#restarting = undefined
      })
  }

  /** Kill and start the same container (same settings, checked at creation), then reconnect. */
  async #restart(): Promise<RunnerChannel> {
    this.#state = 'restarting'
    try {
      // a connection of the runner being killed is not the new one's
      this.#listener?.drop()
      await this.#engineCall('could not restart the container', (abortSignal) => this.#container!.restart({ t: 0, abortSignal }))
      this.#throwIfClosed()
      const channel = await this.#connect()
      this.#throwIfClosed(channel)
      this.#adopt(channel)
      this.#failedRestarts = 0
      this.#log('info', 'plugin container restarted')
      return channel
    } catch (err) {
      if (this.#closing) throw err
      this.#state = 'broken'
      this.#failedRestarts++
      this.#retryAt = Date.now() + Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.#failedRestarts - 1))
      this.#retryReason = thrownMessage(err)
      this.#log('error', `restart failed: ${this.#retryReason}`)
      throw err
    }
  }

  #adopt(channel: RunnerChannel): void {
    this.#channel = channel
    this.#state = 'running'
    // a runner that dies between calls is restarted by the next call
    void channel.lost.then(() => {
      if (this.#channel !== channel) return
      this.#channel = undefined
      if (this.#state === 'running') this.#state = 'broken'
    })
  }

  async #connect(): Promise<RunnerChannel> {
    try {
      if (!this.#listener) throw new Error('the host is not listening for the runner')
      return await this.#listener.accept({
        maxFrameBytes: this.#spec.maxFrameBytes,
        timeoutMs: this.#config.startTimeoutMs,
        alive: () => this.#running(),
      })
    } catch (err) {
      this.#throwIfClosed()
      if (err instanceof PluginLoadError) throw omniError('OMNI_ERR_PLUGIN_FAILED', `plugin ${this.#spec.pluginId} failed to load: ${err.message}`, { permanent: true })
      throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `plugin ${this.#spec.pluginId}: ${thrownMessage(err)}${await this.#exitNote()}`, { cause: err })
    }
  }

  /** Why a runner's connection ended: out of memory (the cgroup or V8's heap), or a crash. */
  async #diagnose(why: string): Promise<{ kind: FailureKind; message: string }> {
    const id = this.#spec.pluginId
    try {
      await this.#container!.wait({ condition: 'not-running', abortSignal: AbortSignal.timeout(EXIT_WAIT_MS) }).catch(() => {})
      const state = (await this.#inspect()).State
      if (state.OOMKilled) return { kind: 'memory', message: `plugin ${id} ran out of memory: its container reached its ${this.#spec.limits.memoryMb} MiB limit` }
      if (!state.Running) {
        if (/heap out of memory|Reached heap limit/.test(await this.#logTail())) return { kind: 'memory', message: `plugin ${id} ran out of memory: the JavaScript heap reached its ${heapMb(this.#spec.limits.memoryMb)} MiB limit` }
        return { kind: 'crashed', message: `plugin ${id}'s runner exited with code ${state.ExitCode}` }
      }
    } catch {
      // the engine cannot tell: report what the socket said
    }
    return { kind: 'crashed', message: `plugin ${id}'s runner ${why.replace(/^the runner /, '')}` }
  }

  async #running(): Promise<boolean> {
    try {
      return (await this.#inspect()).State.Running
    } catch {
      return false
    }
  }

  /** The container's exit code and last log lines, for an error message. */
  async #exitNote(): Promise<string> {
    try {
      const state = (await this.#inspect()).State
      if (state.Running) return ''
      const logs = (await this.#logTail()).trim().split('\n').slice(-5).join(' | ')
      return ` (the container exited with code ${state.ExitCode}${logs ? `: ${logs}` : ''})`
    } catch {
      return ''
    }
  }

  async #logTail(): Promise<string> {
    const logs = await this.#container!.logs({ stdout: true, stderr: true, tail: 30, follow: false, abortSignal: this.#engine.signal() } as Docker.ContainerLogsOptions & { follow: false })
    // the stream is multiplexed: 8-byte frame headers between the lines; drop control bytes
    return Buffer.from(logs).toString('utf8').replace(/[\u0000-\u0008\u000e-\u001f]/g, '')
  }

  #inspect(): Promise<Docker.ContainerInspectInfo> {
    return this.#engineCall('could not inspect the container', (abortSignal) => this.#container!.inspect({ abortSignal }))
  }

  async #engineCall<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await call(this.#engine.signal())
    } catch (err) {
      throw unavailable(this.#engine.socketPath, err, `${what} of plugin ${this.#spec.pluginId}`)
    }
  }

  #throwIfClosed(channel?: RunnerChannel): void {
    if (!this.#closing) return
    channel?.destroy()
    throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `plugin ${this.#spec.pluginId} was closed`)
  }

  #log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.#config.logger[level]({ plugin: this.#spec.pluginId, container: this.#container?.id.slice(0, 12) }, msg)
  }
}
