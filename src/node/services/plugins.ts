import type { JetStreamClient } from '@nats-io/jetstream'
import type { Static } from 'typebox'
import { isOmniError, omniError, type OmniError } from '../../errors/mod.ts'
import {
  approvalStatus,
  decodeBundle,
  inspectInstalled,
  installChecked,
  installedFolders,
  listInstalled,
  openApprovals,
  openHighWaterMarks,
  openPluginRegistry,
  promoteInstalled,
  updateRevocations,
  verifyPlugin,
  widenedCapabilities,
  type Approvals,
  type HighWaterMarks,
  type InstalledPlugin,
  type PluginRegistry,
  type TrustStore,
} from '../../plugins/mod.ts'
import { serialized } from '../../util/serial.ts'
import { isoSeconds } from '../../util/time.ts'
import type { PluginHostOptions, PluginStatus } from '../plugin-host.ts'
import type * as C from './plugin-contracts.ts'
import type { ReloadResult } from './pipeline-files.ts'
import { futureOrRefuse, installedDir, isInstalled, pluginScope, pluginSummary, readServerKey, reloadAfterChange, type PluginScope } from './plugin-scope.ts'

const REVOCATIONS_DAYS = 90
const DEFAULT_REASON = 'yanked by the operator'

type ListAnswer = Static<typeof C.ListResponse>

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
  install(request: Static<typeof C.InstallBody>): Promise<Static<typeof C.InstallResponse>>
  /** `by` is who approves, recorded with the approval */
  approve(id: string, request: { readonly by: string; readonly digest?: string }): Promise<Static<typeof C.ApproveResponse>>
  revoke(id: string, request: Static<typeof C.RevokeBody>): Promise<Static<typeof C.RevokeResponse>>
  promote(id: string, request: Static<typeof C.PromoteBody>): Promise<Static<typeof C.PromoteResponse>>
}

export interface PluginServiceDeps {
  /** undefined when the node runs without plugins: every change then answers 503 */
  readonly settings: PluginHostOptions | undefined
  readonly js: JetStreamClient
  /** what the node made of each plugin at its last scan */
  readonly status: () => readonly PluginStatus[]
  readonly reload: () => Promise<ReloadResult>
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
  const approvals = () => (approvalsP ??= openApprovals(deps.js).catch(forget(() => (approvalsP = undefined))))
  const marks = () => (marksP ??= openHighWaterMarks(deps.js).catch(forget(() => (marksP = undefined))))
  const registry = () => (registryP ??= openPluginRegistry(deps.js).catch(forget(() => (registryP = undefined))))
  const scope = () => pluginScope(deps.settings)
  const reload = () => reloadAfterChange(deps.reload)

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
    approve: (id, { by, digest }) => {
      const s = scope()
      return exclusive(async () => {
        const v = await verifyPlugin(await installedDir(s, id), await s.trust(), s.verifyOptions())
        if (v.manifest.id !== id) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `folder ${id} holds plugin ${v.manifest.id}; nothing was approved`)
        if (digest !== undefined && digest !== v.digest) {
          throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${id}@${v.manifest.version} was not approved: its manifest digest is ${v.digest}, not the reviewed ${digest}; review it again`)
        }
        const store = await approvals()
        const previous = await store.get(id)
        const widened = previous ? widenedCapabilities(v, previous) : []
        const approval = await store.approve(v, by)
        const brief = (a: typeof approval) => ({ by: a.approvedBy, at: a.approvedAt, version: a.version, serial: a.serial })
        return { plugin: pluginSummary(v), capabilities: approval.capabilities, previous: previous ? brief(previous) : null, widened, approval: brief(approval), reload: await reload() }
      })
    },
    revoke: (id, body) => {
      const s = scope()
      const now = s.verifyOptions().now ?? new Date()
      const expiresAt = body.expiresAt ?? isoSeconds(new Date(now.getTime() + REVOCATIONS_DAYS * 86_400_000))
      futureOrRefuse(expiresAt, now, '$.expiresAt')
      return exclusive(async () => {
        const trust = await s.trust()
        // a version only in the registry may be yanked too, when it is named
        const known = (await isInstalled(s, id)) || (body.versions !== undefined && (await (await registry()).list()).some((e) => e.id === id))
        if (!known) throw omniError('OMNI_ERR_NOT_FOUND', `plugin ${id} is not installed on this node${body.versions ? ' nor published in the cluster registry' : ''}`)
        const versions = body.versions ?? [await installedVersion(s, id, trust)]
        const root = await readServerKey(s, body.rootKey, '$.rootKey')
        const reason = body.reason ?? DEFAULT_REASON
        const { list: revocations, entries } = await updateRevocations(trust, root, { keys: [], yanks: versions.map((version) => ({ id, version })), reason, expiresAt, now })
        return {
          yanked: entries.flatMap((e) => (e.type === 'yank' ? [{ version: e.version, reason: e.reason, added: e.added }] : [])),
          list: { issuedAt: revocations.issuedAt, expiresAt: revocations.expiresAt, revokedKeys: revocations.revokedKeys.length, yanked: revocations.yanked.length },
          reload: await reload(),
        }
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
