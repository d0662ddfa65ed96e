import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigProblem, type Cartridge } from '../pipeline/stage.ts'
import { describeError, isOmniError, omniError, type OmniError, type OmniErrorCode } from '../errors/mod.ts'
import type { Logger } from '../observability/logger.ts'
import type { CompiledPipeline } from '../pipeline/compile.ts'
import { pluginCartridge, pluginIdOf } from '../pipeline/plugin-stage.ts'
import type { CartridgeLookup } from '../pipeline/stage-builder.ts'
import { isAdditiveTier, loadTrustStore, pluginCode, verifyPlugin, type Approvals, type HighWaterMarks, type TrustStore, type VerifiedPlugin } from '../plugins/mod.ts'
import type { PluginInstance } from '../sandbox/types.ts'
import { Lifecycle } from '../util/lifecycle.ts'
import { createSandboxes, type Sandboxes } from './sandboxes.ts'


export interface PluginHostOptions {
  /** installed plugins, one verified bundle per folder `<dir>/<id>/` */
  readonly dir: string
  /** the trust store folder (root keys, publisher grants, revocation list) */
  readonly trust: string
  /** this cluster's name, checked against each plugin's audience */
  readonly cluster: string
  /** the Docker engine for container plugins (used only when one is loaded) */
  readonly dockerSocket: string
  /** where sandboxes keep per-plugin folders (container code copies and sockets) */
  readonly workDir: string
  readonly now?: () => Date
}

/** What the fabric reports about each installed plugin. */
export interface PluginStatus {
  readonly id: string
  /** `stopped`: it was running and no longer verifies (revoked, yanked, expired, changed); its stages fail their events */
  readonly state: 'verified' | 'rejected' | 'running' | 'stopped'
  readonly version?: string
  readonly tier?: string
  readonly runtime?: string
  readonly additive?: boolean
  readonly reason?: string
}

/**
 * The plugins of one fabric: verifies what is installed (signature, trust, revocation, dates,
 * audience, every file's bytes), offers the verified ones to pipelines as `plugin:<id>`, and
 * before the pipelines that use one start, refuses a rollback or unapproved capabilities and
 * loads it into its sandbox. A sandbox starts only when a pipeline uses one of its plugins.
 */
export interface PluginHost {
  /** `base` plus `plugin:<id>` for every installed plugin; a rejected one explains why on use */
  lookup(base: CartridgeLookup): CartridgeLookup
  /**
   * Re-reads and verifies the plugins folder (at start and on every reload). A loaded plugin that
   * no longer verifies (revoked, yanked, expired, its files changed or removed) is stopped here and
   * now, before any pipeline is re-checked: its sandbox instance is closed, and the stages that
   * use it fail every later event with the reason (OMNI_ERR_PLUGIN_REVOKED for a revocation), so
   * the running pipelines retry and then dead-letter those events instead of running the code.
   */
  scan(): Promise<void>
  /** Enables the cluster-wide checks against the high-water marks and approvals (JetStream KV), opened by the plugin service. */
  attach(buckets: { readonly approvals: Approvals; readonly marks: HighWaterMarks }): void
  /** Checks and loads the plugins `pipelines` use, then closes the ones no longer used. */
  prepare(pipelines: readonly CompiledPipeline[]): Promise<void>
  status(): PluginStatus[]
  /** closes every sandbox that was started; idempotent */
  close(): Promise<void>
  closed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export function createPluginHost(opts: PluginHostOptions, logger: Logger): PluginHost {
  return new PluginHostImpl(opts, logger)
}

type Scanned = { readonly type: 'verified'; readonly plugin: VerifiedPlugin } | { readonly type: 'rejected'; readonly reason: string; readonly code?: OmniErrorCode }

class PluginHostImpl extends Lifecycle implements PluginHost {
  readonly #opts: PluginHostOptions
  readonly #logger: Logger
  #scanned = new Map<string, Scanned>()
  /** by `id@digest`: a re-signed plugin is a new instance, the old one ends with its pipelines */
  #instances = new Map<string, { readonly plugin: VerifiedPlugin; readonly instance: Promise<PluginInstance> }>()
  #cartridges = new Map<string, Cartridge>()
  /** by `id@digest`: loaded once, no longer verified; every call of its stages fails with this */
  #stopped = new Map<string, { readonly id: string; readonly error: OmniError }>()
  #marks: HighWaterMarks | undefined
  #approvals: Approvals | undefined
  readonly #sandboxes: Sandboxes

  constructor(opts: PluginHostOptions, logger: Logger) {
    super()
    this.#opts = opts
    this.#logger = logger
    this.#sandboxes = createSandboxes({ dockerSocket: opts.dockerSocket, workDir: opts.workDir, logger })
  }

  async scan(): Promise<void> {
    const folders = await readdir(this.#opts.dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return []
      throw omniError('OMNI_ERR_CONFIG', `cannot read the plugins folder ${this.#opts.dir}: ${err.message}`, { cause: err })
    })
    // dot-folders are installs in progress
    const names = folders.filter((f) => f.isDirectory() && !f.name.startsWith('.')).map((f) => f.name)
    const scanned = new Map<string, Scanned>()
    let store: TrustStore | undefined
    if (names.length > 0) {
      const trust = await loadTrustStore(this.#opts.trust).then(
        (store) => ({ store }),
        (err: unknown) => ({ error: describeError(err) }),
      )
      if ('store' in trust) store = trust.store
      for (const name of names.sort()) {
        if ('error' in trust) {
          scanned.set(name, { type: 'rejected', reason: `no usable trust store: ${trust.error}` })
          continue
        }
        const now = this.#opts.now?.()
        try {
          const plugin = await verifyPlugin(join(this.#opts.dir, name), trust.store, { cluster: this.#opts.cluster, ...(now ? { now } : {}) })
          if (plugin.manifest.id !== name) scanned.set(name, { type: 'rejected', reason: `folder ${name} holds plugin ${plugin.manifest.id}; install it as ${plugin.manifest.id}` })
          else scanned.set(name, { type: 'verified', plugin })
        } catch (err) {
          scanned.set(name, { type: 'rejected', reason: describeError(err), ...(isOmniError(err) ? { code: err.code } : {}) })
        }
      }
    }
    for (const [id, s] of scanned) if (s.type === 'rejected') this.#logger.warn({ plugin: id, reason: s.reason }, 'plugin rejected')
    this.#scanned = scanned
    await this.#stopUnverified(scanned, store)
  }

  /**
   * Closes every loaded instance whose plugin (that exact digest) did not verify now. One that a
   * newer installed version is about to replace keeps serving only while the trust store still
   * authorizes it: yanking it, or revoking its key, stops it even before its successor runs.
   */
  async #stopUnverified(scanned: ReadonlyMap<string, Scanned>, store: TrustStore | undefined): Promise<void> {
    const verifies = (id: string, digest: string) => {
      const s = scanned.get(id)
      return s?.type === 'verified' && s.plugin.digest === digest
    }
    // a plugin that verifies again (the same bytes) may be loaded again by the next reload
    for (const [key, stopped] of this.#stopped) if (verifies(stopped.id, key.slice(stopped.id.length + 1))) this.#stopped.delete(key)
    for (const [key, entry] of this.#instances) {
      const { id, version } = entry.plugin.manifest
      const now = scanned.get(id)
      if (verifies(id, entry.plugin.digest)) continue
      const refusal = now?.type === 'verified' ? stillAuthorized(entry.plugin, store, this.#opts.now?.() ?? new Date()) : now ? { reason: now.reason, code: now.code } : { reason: `its folder ${join(this.#opts.dir, id)} is gone` }
      // a newer version installed in its place runs once the pipelines are re-checked; until then the old one, still authorized, serves
      if (!refusal) continue
      const { reason } = refusal
      const code: OmniErrorCode = refusal.code === 'OMNI_ERR_PLUGIN_REVOKED' ? 'OMNI_ERR_PLUGIN_REVOKED' : 'OMNI_ERR_PLUGIN_FAILED'
      const error = omniError(code, `plugin ${id}@${version} was stopped because it no longer verifies (${reason}); its stage fails until the pipeline no longer uses it`)
      // first: no call starts after this point, even one a batch is about to make
      this.#stopped.set(key, { id, error })
      this.#instances.delete(key)
      this.#logger.warn({ plugin: id, version, reason }, 'plugin stopped: it no longer verifies')
      await entry.instance.then((i) => i.close()).catch(() => undefined)
    }
  }

  lookup(base: CartridgeLookup): CartridgeLookup {
    return (id) => {
      const plugin = pluginIdOf(id)
      return plugin === undefined ? base(id) : this.#cartridge(plugin)
    }
  }

  #cartridge(id: string): Cartridge {
    const scanned = this.#scanned.get(id)
    if (scanned?.type !== 'verified') {
      const reason = scanned?.reason ?? `plugin ${id} is not installed in ${this.#opts.dir} (omni plugin install ${id}@<version>)`
      return refusing(id, reason)
    }
    const { plugin } = scanned
    const key = `${id}@${plugin.digest}`
    let cart = this.#cartridges.get(key)
    if (!cart) {
      const m = plugin.manifest
      cart = pluginCartridge({
        plugin: id,
        description: m.description ?? `${m.runtime} plugin ${id} ${m.version} (${m.tier})`,
        additive: isAdditiveTier(m.tier),
        tenants: m.audience.tenants,
        emit: m.capabilities.emit,
        instance: () => this.#instance(plugin),
      }) as Cartridge
      this.#cartridges.set(key, cart)
    }
    return cart
  }

  /** The loaded instance; prepare() loads it before the pipeline starts, this is the fallback. */
  #instance(plugin: VerifiedPlugin): Promise<PluginInstance> {
    const key = `${plugin.manifest.id}@${plugin.digest}`
    const stopped = this.#stopped.get(key)
    if (stopped) return Promise.reject(stopped.error)
    let entry = this.#instances.get(key)
    if (!entry) {
      const instance = this.#sandboxes.load(plugin.manifest.runtime, pluginCode(plugin))
      // a failed load is not kept: the next batch tries again
      instance.catch(() => this.#instances.get(key)?.instance === instance && this.#instances.delete(key))
      entry = { plugin, instance }
      this.#instances.set(key, entry)
    }
    return entry.instance
  }

  attach(buckets: { readonly approvals: Approvals; readonly marks: HighWaterMarks }): void {
    this.#marks = buckets.marks
    this.#approvals = buckets.approvals
  }

  async prepare(pipelines: readonly CompiledPipeline[]): Promise<void> {
    const used = new Map<string, VerifiedPlugin>()
    for (const p of pipelines) {
      for (const stage of p.levels.flat()) {
        const id = pluginIdOf(stage.uses)
        if (id === undefined) continue
        const scanned = this.#scanned.get(id)
        if (scanned?.type === 'verified') used.set(`${scanned.plugin.manifest.id}@${scanned.plugin.digest}`, scanned.plugin)
      }
    }
    for (const plugin of used.values()) {
      if (!this.#marks || !this.#approvals) throw omniError('OMNI_ERR_CONFIG', 'plugins cannot be checked before the host is attached to JetStream')
      // a rollback is refused on every node; unapproved or widened capabilities never run
      await this.#marks.check(plugin)
      await this.#approvals.check(plugin)
    }
    const loads = [...used.values()].map((plugin) => this.#instance(plugin))
    await Promise.all(loads)
    for (const [key, entry] of this.#instances) {
      if (used.has(key)) continue
      this.#instances.delete(key)
      await entry.instance.then((i) => i.close()).catch(() => undefined)
    }
  }

  status(): PluginStatus[] {
    const running = new Set([...this.#instances.values()].map((e) => e.plugin.digest))
    const stopped = new Map([...this.#stopped.values()].map((s) => [s.id, s.error.message]))
    return [...this.#scanned].map(([id, s]) =>
      s.type === 'rejected'
        ? { id, state: stopped.has(id) ? 'stopped' : 'rejected', reason: s.reason }
        : {
            id,
            // a version replaced on disk but still used by a running pipeline may have been stopped
            state: running.has(s.plugin.digest) ? 'running' : stopped.has(id) ? 'stopped' : 'verified',
            ...(!running.has(s.plugin.digest) && stopped.has(id) ? { reason: stopped.get(id) } : {}),
            version: s.plugin.manifest.version,
            tier: s.plugin.manifest.tier,
            runtime: s.plugin.manifest.runtime,
            additive: isAdditiveTier(s.plugin.manifest.tier),
          },
    )
  }

  protected async release(): Promise<void> {
    this.#instances.clear()
    await this.#sandboxes.close()
  }
}

/** Why the trust store no longer lets `plugin` run (revoked key, yanked version, expired list or grant), or undefined. */
function stillAuthorized(plugin: VerifiedPlugin, store: TrustStore | undefined, now: Date): { readonly reason: string; readonly code?: OmniErrorCode } | undefined {
  if (!store) return { reason: 'no usable trust store' }
  try {
    store.authorize(plugin.keyid, plugin.manifest, now)
    return undefined
  } catch (err) {
    return { reason: describeError(err), ...(isOmniError(err) ? { code: err.code } : {}) }
  }
}

/** A stage type that reports why the plugin cannot be used, at the stage that uses it. */
function refusing(id: string, reason: string): Cartridge {
  return {
    ...pluginCartridge({ plugin: id, description: reason, additive: false, tenants: ['*'], emit: [], instance: () => Promise.reject(new Error(reason)) }),
    create: () => {
      throw new ConfigProblem([], `plugin ${id} cannot be used: ${reason}`)
    },
  } as Cartridge
}
