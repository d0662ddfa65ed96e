import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { omniError } from '../../errors/mod.ts'
import { thrownMessage } from '../result.ts'
import type { PluginCode, SandboxRuntime } from '../types.ts'
import { type Engine, openEngine, unavailable } from './engine.ts'
import { createPluginFolders } from './folders.ts'
import { type ContainerPluginInstance, createContainerInstance } from './instance.ts'
import { checkContainerLimits, type ContainerRuntimeConfig, type ContainerRuntimeOptions, resolveContainerOptions } from './options.ts'
import { createSidecar, type Sidecar } from './sidecar.ts'

export type { ContainerRuntimeOptions } from './options.ts'
export type { ContainerPluginInstance } from './instance.ts'

/** The container sandbox: each plugin in a long-running, no-network container of its own. */
export interface ContainerRuntime extends SandboxRuntime {
  readonly runtime: 'container'
  load(code: PluginCode): Promise<ContainerPluginInstance>
  /** ids of the containers this runtime created and has not removed yet */
  containerIds(): string[]
  /** the label value every container of this runtime carries under `omni.fabric.runtime` */
  readonly runtimeId: string
}

/**
 * Creates the container runtime. Nothing connects to the engine until the first `load()`: no
 * container exists while no plugin needs one.
 */
export function createContainerRuntime(opts: ContainerRuntimeOptions): ContainerRuntime {
  return new ContainerRuntimeImpl(resolveContainerOptions(opts))
}

const DIGEST_REF = /^[^@\s]+@(sha256:[0-9a-f]{64})$/

class ContainerRuntimeImpl implements ContainerRuntime {
  readonly runtime = 'container' as const
  readonly runtimeId = randomBytes(8).toString('hex')
  readonly #config: ContainerRuntimeConfig
  #engine: Promise<Engine> | undefined
  readonly #sidecars = new Set<Sidecar>()
  readonly #instances = new Set<ContainerPluginInstance>()
  #seq = 0
  #closing: Promise<void> | undefined
  readonly #done = Promise.withResolvers<void>()

  constructor(config: ContainerRuntimeConfig) {
    this.#config = config
  }

  containerIds(): string[] {
    return [...this.#sidecars].flatMap((s) => s.containerId() ?? [])
  }

  async load(code: PluginCode): Promise<ContainerPluginInstance> {
    this.#throwIfClosed()
    checkContainerLimits(code.id, code.limits)
    const digest = imageDigest(code)
    const engine = await this.#connect()
    const imageId = await resolveImage(engine, code, digest)
    this.#throwIfClosed()
    await mkdir(this.#config.workDir, { recursive: true, mode: 0o700 })
    const folders = await createPluginFolders(this.#config.workDir, code)
    const sidecar = createSidecar({
      engine,
      config: this.#config,
      folders,
      spec: {
        pluginId: code.id,
        runtimeId: this.runtimeId,
        name: `omni-plugin-${folders.root.slice(folders.root.lastIndexOf('/') + 1)}-${++this.#seq}`,
        imageId,
        pluginDir: folders.pluginDir,
        socketDir: folders.socketDir,
        limits: code.limits,
        maxFrameBytes: this.#config.maxFrameBytes,
      },
    })
    // registered before anything is created, so close() removes whatever a load left behind
    this.#sidecars.add(sidecar)
    try {
      await sidecar.start()
      this.#throwIfClosed()
    } catch (err) {
      await sidecar.close()
      this.#sidecars.delete(sidecar)
      throw err
    }
    const instance = createContainerInstance(code.id, sidecar, () => {
      this.#sidecars.delete(sidecar)
      this.#instances.delete(instance)
    })
    this.#instances.add(instance)
    return instance
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  closed(): Promise<void> {
    return this.#done.promise
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** The engine, connected on first need; a failed connection is tried again by the next load. */
  #connect(): Promise<Engine> {
    if (!this.#engine) {
      const engine = openEngine(this.#config.socketPath, this.#config.engineTimeoutMs)
      this.#engine = engine
      engine.catch(() => {
        if (this.#engine === engine) this.#engine = undefined
      })
    }
    return this.#engine
  }

  async #shutdown(): Promise<void> {
    try {
      // calls already accepted may finish, within a bound; then every container goes
      const drained = Promise.allSettled([...this.#instances].map((i) => i.close()))
      let timer: NodeJS.Timeout | undefined
      await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, this.#config.closeTimeoutMs)))])
      clearTimeout(timer)
      await Promise.allSettled([...this.#sidecars].map((s) => s.close()))
      await drained
      this.#sidecars.clear()
      const engine = await this.#engine?.catch(() => undefined)
      engine?.close()
    } catch (err) {
      this.#config.logger.error({ err: thrownMessage(err) }, 'closing the container runtime failed')
    } finally {
      this.#done.resolve()
    }
  }

  #throwIfClosed(): void {
    if (this.#closing) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', 'the container runtime is closed')
  }
}

/** The image digest a plugin pins; a reference without one is refused. */
function imageDigest(code: PluginCode): string {
  const digest = code.image === undefined ? undefined : DIGEST_REF.exec(code.image)?.[1]
  if (!digest) {
    throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `plugin ${code.id}: the container runtime needs an image pinned by digest (name@sha256:<64 hex>), got ${code.image === undefined ? 'none' : `"${code.image}"`}`, {
      permanent: true,
    })
  }
  return digest
}

/**
 * Finds the pinned image in the local engine (never pulled: no registry is trusted at run time)
 * and checks its id is the digest, so the code that runs is the code that was signed.
 */
async function resolveImage(engine: Engine, code: PluginCode, digest: string): Promise<string> {
  let id: string
  try {
    id = (await engine.docker.getImage(digest).inspect({ abortSignal: engine.signal() } as object)).Id
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) throw omniError('OMNI_ERR_SANDBOX_UNAVAILABLE', `plugin ${code.id}: image ${code.image} is not in the engine at ${engine.socketPath}`, { cause: err })
    throw unavailable(engine.socketPath, err, `could not inspect image ${code.image}`)
  }
  if (id !== digest) throw omniError('OMNI_ERR_SANDBOX_INSECURE', `plugin ${code.id}: image ${code.image} resolves to ${id}, not to its digest`, { permanent: true })
  return id
}
