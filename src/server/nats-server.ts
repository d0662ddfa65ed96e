import { resolveNatsBinary, type NatsBinary } from './binary.ts'
import { clientUrl, resolveServerOptions, type NatsServerOptions, type ResolvedServerOptions } from './options.ts'
import { launch, type ServerProcess } from './process.ts'

export type { NatsServerOptions } from './options.ts'

/** A nats-server child process with JetStream, owned by this process. */
export interface ManagedNatsServer {
  /** `nats://host:port` for clients. */
  readonly url: string
  readonly port: number
  /** `http://127.0.0.1:port` of the monitoring endpoints (/varz, /leafz), when the options ask for them */
  readonly monitorUrl: string | undefined
  /** The current process id; changes on restart. */
  readonly pid: number
  readonly storeDir: string
  /** The binary's version, e.g. `2.10.27`. */
  readonly version: string
  /** False once the current process has exited (closed, killed or crashed). */
  readonly running: boolean
  /** SIGTERM, waits for exit, SIGKILL after `stopTimeoutMs`; idempotent. */
  close(): Promise<void>
  /** Resolves when the current process exits, for whatever reason; never rejects. */
  closed(): Promise<void>
  /** Sends a signal without waiting (default SIGKILL), to simulate crashes. */
  kill(signal?: NodeJS.Signals): void
  /** The last lines the server logged, for reports on what it refused (a leaf login, a permission). */
  logLines(): Promise<string[]>
  /** Stops the server if running and starts it again on the same port and store dir. */
  restart(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

class ManagedNatsServerImpl implements ManagedNatsServer {
  readonly #o: ResolvedServerOptions
  readonly #binary: NatsBinary
  #proc: ServerProcess

  constructor(o: ResolvedServerOptions, binary: NatsBinary, proc: ServerProcess) {
    this.#o = o
    this.#binary = binary
    this.#proc = proc
  }

  get url(): string {
    return clientUrl(this.#o.host, this.#proc.port)
  }
  get port(): number {
    return this.#proc.port
  }
  get monitorUrl(): string | undefined {
    return this.#proc.monitorPort === undefined ? undefined : `http://127.0.0.1:${this.#proc.monitorPort}`
  }
  get pid(): number {
    return this.#proc.pid
  }
  get storeDir(): string {
    return this.#o.storeDir
  }
  get version(): string {
    return this.#binary.version
  }
  get running(): boolean {
    return !this.#proc.hasExited
  }

  logLines(): Promise<string[]> {
    return this.#proc.logLines()
  }

  close(): Promise<void> {
    return this.#proc.stop(this.#o.stopTimeoutMs)
  }

  closed(): Promise<void> {
    return this.#proc.exited
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.#proc.hasExited) this.#proc.child.kill(signal)
  }

  async restart(): Promise<void> {
    const port = this.#proc.port
    await this.close()
    this.#proc = await launch(this.#binary, this.#o, port)
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * Starts nats-server with JetStream as a child process and resolves once clients can connect.
 * Fails with OMNI_ERR_NATS_BINARY_MISSING, OMNI_ERR_NATS_TOO_OLD, OMNI_ERR_PORT_IN_USE,
 * OMNI_ERR_CONFIG or (when it exits or hangs while starting) OMNI_ERR_NATS_UNAVAILABLE.
 */
export async function startNatsServer(opts: NatsServerOptions): Promise<ManagedNatsServer> {
  const o = resolveServerOptions(opts)
  const binary = await resolveNatsBinary(o.binary)
  const proc = await launch(binary, o, o.port)
  return new ManagedNatsServerImpl(o, binary, proc)
}
