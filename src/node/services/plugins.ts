import type { BucketOptions } from '../../jetstream/replicas.ts'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { JetStreamClient } from '@nats-io/jetstream'
import type { Static } from 'typebox'
import { isOmniError, omniError, type OmniError } from '../../errors/mod.ts'
import {
  adoptRevocationList,
  approvalStatus,
  decodeBundle,
  REVOCATIONS_FILE,
  verifyChecked,
  inspectInstalled,
  installChecked,
  installedFolders,
  listInstalled,
  openApprovals,
  openHighWaterMarks,
  openPluginRegistry,
  promoteInstalled,
  readSigningKey,
  updateRevocations,
  verifyPlugin,
  widenedCapabilities,
  type Approval,
  type Approvals,
  type HighWaterMarks,
  type InstalledPlugin,
  type PluginRegistry,
  type RegistryEntry,
  type RevocationUpdate,
  type SigningKey,
  type TrustStore,
  type VerifiedPlugin,
} from '../../plugins/mod.ts'
import type { CompiledPipeline } from '../../pipeline/compile.ts'
import { pluginIdOf } from '../../pipeline/plugin-stage.ts'
import { serialized } from '../../util/serial.ts'
import type { PluginHostOptions, PluginStatus } from '../plugin-host.ts'
import type * as C from './plugin-contracts.ts'
import type { ReloadResult } from './pipeline-files.ts'
import { futureOrRefuse, installedDir, isInstalled, pluginScope, pluginSummary, readServerKey, reloadAfterChange, type PluginScope, type ReloadAnswer } from './plugin-scope.ts'

type ListAnswer = Static<typeof C.ListResponse>


/** A plugin to review or approve: an installed plugin's id, or a plugin folder on this host (the CLI's). */
export type PluginTarget = string | { readonly dir: string }

/** A root or signing key: a file on this host (the CLI's), or a key name in `<trust>/keys` (`where` names the request field). */
export type KeySource = { readonly file: string } | { readonly name: string; readonly where: string }

/** A verified plugin next to the approval recorded for its id. */
export interface PluginReview {
  readonly plugin: VerifiedPlugin
  readonly previous: Approval | undefined
  /** what it asks for beyond `previous` (empty without one) */
  readonly widened: string[]
}

/** Keys to revoke and versions to yank, of any plugin; with neither, the list is only re-signed with a new expiry. */
export interface RevocationRequest {
  readonly keys?: readonly string[]
  readonly yanks?: readonly { readonly id: string; readonly version: string }[]
  /** default DEFAULT_YANK_REASON */
  readonly reason?: string
  /** default REVOCATIONS_DAYS from now */
  readonly expiresAt?: string
  readonly rootKey: KeySource
}

/** The list as re-signed, the root that signed it, the reload after the change, and the running stages it stopped. */
export type RevocationAnswer = RevocationUpdate & { readonly root: string; readonly reload: ReloadAnswer; readonly affected: AffectedStage[] }

export type AffectedStage = Static<typeof C.AffectedStage>

/**
 * The node's plugins: list, install (from the cluster registry or a signed bundle), approve,
 * revoke (yank versions) and promote, on its plugins folder and trust store. It alone opens the
 * trust store and the approval, high-water and registry buckets; every change reloads the node so
 * it rescans the plugins.
 */
export interface PluginService {
  /** every installed folder, verified now (or why not), with its state and approval */
  list(): Promise<ListAnswer>
  /** installed, verified plugins whose capabilities are not approved (or widened since) */
  pending(): Promise<ListAnswer['plugins']>
  /** the installed folders as they verify now; fails when the trust store is unusable. Approvals are read unless `approvals` is false. */
  installed(opts?: { readonly approvals?: boolean }): Promise<InstalledPlugin[]>
  /** the versions published in the cluster registry */
  published(): Promise<RegistryEntry[]>
  /** the trust store as it is on disk now */
  trust(): Promise<TrustStore>
  install(request: Static<typeof C.InstallBody>): Promise<Static<typeof C.InstallResponse>>
  /** verifies `target` and compares it with its approval, changing nothing: what an approver reviews */
  review(target: PluginTarget): Promise<PluginReview>
  /**
   * `by` is the approver's identity as the adapter established it (the API token's name, the CLI's
   * OS user), never a name from the request; `digest`, when given, must be the reviewed one. The
   * approval is bound to the plugin id, its signing key, its tier and its capabilities.
   */
  approve(target: PluginTarget, request: { readonly by: string; readonly digest?: string }): Promise<Static<typeof C.ApproveResponse>>
  /** yanks versions of an installed (or published) plugin */
  revoke(id: string, request: Static<typeof C.RevokeBody>): Promise<Static<typeof C.RevokeResponse>>
  /** re-signs the revocation list with the entries asked for added */
  updateRevocations(request: RevocationRequest): Promise<RevocationAnswer>
  promote(id: string, request: Static<typeof C.PromoteBody>): Promise<Static<typeof C.PromoteResponse>>
  /**
   * Every check an install runs (signature, trust, tier cap, revocations, dates, audience, files,
   * high-water mark) on a bundle in the registry's format, installing and recording nothing.
   */
  check(bundle: NonNullable<Static<typeof C.InstallBody>['bundle']>, expect: { readonly id: string; readonly version: string }): Promise<VerifiedPlugin>
  /** The exact bytes of this node's signed revocation list (what `cartridge.revoked` carries). */
  revocationsEnvelope(): Promise<Buffer>
  /**
   * Adopts a revocation list signed by a root of this trust store, sent by another node: verified,
   * newer only, never dropping an entry; then the node reloads, stopping what it revokes.
   */
  adoptRevocations(envelope: Buffer, source: string): Promise<AdoptAnswer>
}

/** What adopting a received revocation list did, and the running stages it stopped. */
export type AdoptAnswer =
  | { readonly type: 'adopted'; readonly issuedAt: string; readonly addedKeys: readonly string[]; readonly addedYanks: readonly { readonly id: string; readonly version: string }[]; readonly reload: ReloadAnswer; readonly affected: AffectedStage[] }
  | { readonly type: 'kept'; readonly issuedAt: string; readonly current: string }

export interface PluginServiceDeps {
  /** undefined when the node runs without plugins: every change then answers 503 */
  readonly settings: PluginHostOptions | undefined
  /** undefined without a cluster connection (a CLI command on this host alone): what needs a bucket then answers 503 */
  readonly js: JetStreamClient | undefined
  /** what the node made of each plugin at its last scan */
  readonly status: () => readonly PluginStatus[]
  readonly reload: () => Promise<ReloadResult>
  /** the pipelines the node runs (none for a process beside the node) */
  readonly running?: () => readonly CompiledPipeline[]
  /** what a bucket this service creates is given (its replicas) */
  readonly bucketOptions?: BucketOptions
  /** the buckets the plugin host checks against, shared so they are opened once */
  readonly buckets?: { readonly approvals: Approvals; readonly marks: HighWaterMarks }
}

export function createPluginService(deps: PluginServiceDeps): PluginService {
  // changes to the plugins folder and the trust store run one at a time, so two installs of one id
  // cannot swap folders under each other and a revocation cannot lose the entries of one signed a
  // moment before
  const exclusive = serialized()
  // opened on first use when the host did not: a node may never touch plugins
  let approvalsP: Promise<Approvals> | undefined = deps.buckets ? Promise.resolve(deps.buckets.approvals) : undefined
  let marksP: Promise<HighWaterMarks> | undefined = deps.buckets ? Promise.resolve(deps.buckets.marks) : undefined
  let registryP: Promise<PluginRegistry> | undefined
  const cluster = (): JetStreamClient => {
    if (!deps.js) throw omniError('OMNI_ERR_UNAVAILABLE', 'this needs the cluster\'s NATS server (approvals, high-water marks and the registry live there); give its URL')
    return deps.js
  }
  const approvals = () => (approvalsP ??= openApprovals(cluster(), deps.bucketOptions).catch(forget(() => (approvalsP = undefined))))
  const marks = () => (marksP ??= openHighWaterMarks(cluster(), deps.bucketOptions).catch(forget(() => (marksP = undefined))))
  const registry = () => (registryP ??= openPluginRegistry(cluster(), deps.bucketOptions).catch(forget(() => (registryP = undefined))))
  const scope = () => pluginScope(deps.settings)
  const reload = () => reloadAfterChange(deps.reload)
  const folderOf = async (s: PluginScope, target: PluginTarget) => (typeof target === 'string' ? installedDir(s, target) : target.dir)

  const review = async (s: PluginScope, target: PluginTarget): Promise<PluginReview> => {
    const plugin = await verifyPlugin(await folderOf(s, target), await s.trust(), s.verifyOptions())
    // a folder given as such may have any name; an installed one must hold the plugin it is named for
    if (typeof target === 'string' && plugin.manifest.id !== target) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `folder ${target} holds plugin ${plugin.manifest.id}; nothing was approved`)
    const previous = await (await approvals()).get(plugin.manifest.id)
    return { plugin, previous, widened: previous ? widenedCapabilities(plugin, previous) : [] }
  }

  // the caller holds `exclusive`
  const revise = async (s: PluginScope, trust: TrustStore, request: RevocationRequest): Promise<RevocationAnswer> => {
    const root = await signingKey(s, request.rootKey)
    const now = s.verifyOptions().now
    const update = await updateRevocations(trust, root.key, {
      keys: request.keys ?? [],
      yanks: request.yanks ?? [],
      rootSource: root.source,
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      ...(request.expiresAt !== undefined ? { expiresAt: request.expiresAt } : {}),
      ...(now ? { now } : {}),
    })
    const reloaded = await reload()
    return { ...update, root: root.key.keyid, reload: reloaded, affected: stoppedStages() }
  }

  // the stages of running pipelines whose plugin the node stopped at its last scan
  const stoppedStages = (): AffectedStage[] => stagesUsing(deps.running?.() ?? [], new Set(deps.status().flatMap((p) => (p.state === 'stopped' ? [p.id] : []))))

  const installed = async ({ approvals: withApprovals = true }: { readonly approvals?: boolean } = {}) => {
    const s = scope()
    return listInstalled(s.settings.dir, await s.trust(), s.verifyOptions(), withApprovals ? await approvals() : undefined)
  }

  const list = async (): Promise<ListAnswer> => {
    if (!deps.settings) return { enabled: false, plugins: [] }
    const s = scope()
    const status = new Map(deps.status().map((p) => [p.id, p]))
    const rows = await s.trust().then(
      async (trust) => listInstalled(s.settings.dir, trust, s.verifyOptions(), await approvals()),
      // without a usable trust store nothing verifies: list the folders with the reason
      async (err: unknown) => {
        if (!isOmniError(err)) throw err
        return (await installedFolders(s.settings.dir)).map((folder) => unverifiable(folder, err))
      },
    )
    const plugins = rows.map((r) => {
      const p = status.get(r.folder)
      return { ...r, approval: r.approval ?? { state: 'unknown' as const }, state: p?.state ?? ('not-loaded' as const), ...(p?.reason ? { reason: p.reason } : {}) }
    })
    return { enabled: true, plugins }
  }

  return {
    list,
    pending: async () => (await list()).plugins.filter((p) => p.verified && p.approval.state !== 'approved'),
    installed,
    published: async () => (await registry()).list(),
    trust: () => scope().trust(),
    install: ({ id, version, bundle: upload }) => {
      const s = scope()
      return exclusive(async () => {
        const trust = await s.trust()
        const bundle = upload ? decodeBundle(Buffer.from(JSON.stringify(upload)), '$.bundle') : await (await registry()).fetch(id, version)
        if (!bundle) throw omniError('OMNI_ERR_NOT_FOUND', `${id}@${version} is not published in the cluster registry; publish it with \`omni plugin publish\` or upload the bundle`)
        const { plugin, highWater } = await installChecked(bundle, { id, version, pluginsDir: s.settings.dir, trust, verify: s.verifyOptions() }, await marks())
        const approval = approvalStatus(plugin, await (await approvals()).get(id))
        return {
          plugin: pluginSummary(plugin),
          source: upload ? ('upload' as const) : ('registry' as const),
          highWater: { type: highWater.type, serial: highWater.mark.serial, ...(highWater.type === 'newer' ? { previous: highWater.previous.serial } : {}) },
          approval,
          reload: await reload(),
        }
      })
    },
    review: (target) => review(scope(), target),
    approve: (target, { by, digest }) => {
      const s = scope()
      return exclusive(async () => {
        const { plugin: v, previous, widened } = await review(s, target)
        if (digest !== undefined && digest !== v.digest) {
          throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${v.manifest.id}@${v.manifest.version} was not approved: its manifest digest is ${v.digest}, not the reviewed ${digest}; review it again`)
        }
        const approval = await (await approvals()).approve(v, by)
        const brief = (a: Approval) => ({ by: a.approvedBy, at: a.approvedAt, version: a.version, serial: a.serial, keyid: a.keyid ?? null, tier: a.tier ?? null })
        return { plugin: pluginSummary(v), capabilities: approval.capabilities, previous: previous ? brief(previous) : null, widened, approval: brief(approval), reload: await reload() }
      })
    },
    revoke: (id, body) => {
      const s = scope()
      if (body.expiresAt !== undefined) futureOrRefuse(body.expiresAt, s.verifyOptions().now ?? new Date(), '$.expiresAt')
      return exclusive(async () => {
        const trust = await s.trust()
        // a version only in the registry may be yanked too, when it is named
        const known = (await isInstalled(s, id)) || (body.versions !== undefined && (await (await registry()).list()).some((e) => e.id === id))
        if (!known) throw omniError('OMNI_ERR_NOT_FOUND', `plugin ${id} is not installed on this node${body.versions ? ' nor published in the cluster registry' : ''}`)
        const versions = body.versions ?? [await installedVersion(s, id, trust)]
        const { reason, expiresAt } = body
        const request = { yanks: versions.map((version) => ({ id, version })), rootKey: { name: body.rootKey, where: '$.rootKey' }, ...(reason !== undefined ? { reason } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) }
        const { list: revocations, entries, reload: reloaded, affected } = await revise(s, trust, request)
        return {
          affected: affected.filter((a) => a.plugin === id),
          yanked: entries.flatMap((e) => (e.type === 'yank' ? [{ version: e.version, reason: e.reason, added: e.added }] : [])),
          list: { issuedAt: revocations.issuedAt, expiresAt: revocations.expiresAt, revokedKeys: revocations.revokedKeys.length, yanked: revocations.yanked.length },
          reload: reloaded,
        }
      })
    },
    updateRevocations: (request) => {
      const s = scope()
      return exclusive(async () => revise(s, await s.trust(), request))
    },
    check: (upload, { id, version }) => {
      const s = scope()
      return exclusive(async () => {
        const bundle = decodeBundle(Buffer.from(JSON.stringify(upload)), '$.bundle')
        return verifyChecked(bundle, { id, version, pluginsDir: s.settings.dir, trust: await s.trust(), verify: s.verifyOptions() }, await marks())
      })
    },
    revocationsEnvelope: async () => readFile(join((await scope().trust()).dir, REVOCATIONS_FILE)),
    adoptRevocations: (envelope, source) => {
      const s = scope()
      return exclusive(async (): Promise<AdoptAnswer> => {
        const r = await adoptRevocationList(await s.trust(), envelope, source, s.verifyOptions().now ?? new Date())
        if (r.type === 'kept') return { type: 'kept', issuedAt: r.list.issuedAt, current: r.current.issuedAt }
        const reloaded = await reload()
        return { type: 'adopted', issuedAt: r.list.issuedAt, addedKeys: r.addedKeys, addedYanks: r.addedYanks, reload: reloaded, affected: stoppedStages() }
      })
    },
    promote: (id, { tier, expiresAt, key: keyName }) => {
      const s = scope()
      const verify = s.verifyOptions()
      if (expiresAt) futureOrRefuse(expiresAt, verify.now ?? new Date(), '$.expiresAt')
      return exclusive(async () => {
        await installedDir(s, id)
        const key = await readServerKey(s, keyName, '$.key')
        const opts = { pluginsDir: s.settings.dir, id, tier, trust: await s.trust(), verify, ...(expiresAt ? { expiresAt } : {}) }
        const r = await promoteInstalled(key, opts, await marks(), await registry())
        return { plugin: pluginSummary(r.plugin), from: r.from, published: { name: r.published.name, serial: r.published.serial }, highWater: { type: r.highWater.type, serial: r.highWater.mark.serial }, reload: await reload() }
      })
    },
  }
}

/** The stages of `pipelines` that use one of the plugins `ids`. */
export function stagesUsing(pipelines: readonly CompiledPipeline[], ids: ReadonlySet<string>): AffectedStage[] {
  return pipelines.flatMap((p) =>
    p.levels.flat().flatMap((stage) => {
      const plugin = pluginIdOf(stage.uses)
      return plugin !== undefined && ids.has(plugin) ? [{ pipeline: p.name, stage: stage.id, plugin, additive: stage.additive }] : []
    }),
  )
}

/** Reads a key from where the request says, with the name its errors give it. */
async function signingKey(scope: PluginScope, from: KeySource): Promise<{ readonly key: SigningKey; readonly source: string }> {
  if ('file' in from) return { key: await readSigningKey(from.file), source: from.file }
  return { key: await readServerKey(scope, from.name, from.where), source: `key ${from.name} in ${scope.keysDir}` }
}

/** Drops a cached bucket handle that failed to open, so the next call tries again. */
function forget(reset: () => void) {
  return (err: unknown): never => {
    reset()
    throw err
  }
}

/** The version the installed folder claims (it may no longer verify: it may be yanked already). */
async function installedVersion(scope: PluginScope, id: string, trust: TrustStore): Promise<string> {
  const row = await inspectInstalled(await installedDir(scope, id), id, trust, scope.verifyOptions())
  if (row.version === '?') throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `the installed folder ${id} has no readable manifest; name the versions to yank`, { problems: [{ where: '$.versions', message: 'required here' }] })
  return row.version
}

function unverifiable(folder: string, err: OmniError): InstalledPlugin {
  return { folder, id: folder, version: '?', serial: null, tier: '?', runtime: '?', additive: null, verified: false, digest: null, error: { code: err.code, message: err.message }, approval: { state: 'unknown' } }
}
