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
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { futureOrRefuse, installedDir, isInstalled, pluginScope, pluginSummary, readServerKey, reloadFabric, type PluginScope } from '../plugin-actions.ts'
import * as S from '../plugin-schemas.ts'

const TAGS = ['plugins']
const SECURITY = [{ bearer: [] }]
const ERRORS = { '4xx': ErrorResponse, '5xx': ErrorResponse }
/** Uploaded bundles are base64 in JSON; bigger ones go through the registry (`omni plugin publish`). */
const INSTALL_BODY_LIMIT = 16 * 1024 * 1024
const REVOCATIONS_DAYS = 90
const DEFAULT_REASON = 'yanked by the operator'

/**
 * `/v1/plugins`: list, install (from the registry or an uploaded signed bundle), approve, revoke
 * (yank versions) and promote, as `omni plugin …` does, on the fabric's plugins folder and trust
 * store. Every change reloads the fabric so it rescans the plugins.
 */
export async function pluginRoutes(app: ApiApp, { deps }: RouteOptions): Promise<void> {
  const { fabric } = deps
  // changes to the plugins folder and the trust store run one at a time, so two installs of one id
  // cannot swap folders under each other and a revocation cannot lose the entries of one signed a
  // moment before
  const exclusive = serialized()
  // the buckets are created once, on first use, not at start: a node may never touch plugins
  let approvalsP: Promise<Approvals> | undefined
  let marksP: Promise<HighWaterMarks> | undefined
  let registryP: Promise<PluginRegistry> | undefined
  const approvals = () => (approvalsP ??= openApprovals(fabric.js).catch(forget(() => (approvalsP = undefined))))
  const marks = () => (marksP ??= openHighWaterMarks(fabric.js).catch(forget(() => (marksP = undefined))))
  const registry = () => (registryP ??= openPluginRegistry(fabric.js).catch(forget(() => (registryP = undefined))))

  app.get(
    '/v1/plugins',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Installed plugins with their state and approval',
        description:
          'Every folder of the plugins directory, verified now (or why not), with the state the fabric gave it at its last scan (running, verified, rejected, or not loaded yet) and whether its capabilities are approved, as `omni plugin list --nats` prints it.',
        tags: TAGS,
        security: SECURITY,
        response: { 200: S.ListResponse, ...ERRORS },
      },
    },
    async () => {
      if (!fabric.pluginSettings()) return { enabled: false, plugins: [] }
      const scope = pluginScope(fabric)
      const status = new Map(fabric.pluginStatus().map((s) => [s.id, s]))
      const rows = await scope.trust().then(
        async (trust) => listInstalled(scope.settings.dir, trust, scope.verifyOptions(), await approvals()),
        // without a usable trust store nothing verifies: list the folders with the reason
        async (err: unknown) => {
          if (!isOmniError(err)) throw err
          return (await installedFolders(scope.settings.dir)).map((folder) => unverifiable(folder, err))
        },
      )
      const plugins = rows.map((r) => {
        const s = status.get(r.folder)
        return { ...r, approval: r.approval ?? { state: 'unknown' as const }, state: s?.state ?? ('not-loaded' as const), ...(s?.reason ? { reason: s.reason } : {}) }
      })
      return { enabled: true, plugins }
    },
  )

  app.post(
    '/v1/plugins/install',
    {
      config: { access: 'admin' },
      bodyLimit: INSTALL_BODY_LIMIT,
      schema: {
        summary: 'Install a signed plugin',
        description:
          'Installs <id>@<version> from the cluster registry (as `omni plugin install`), or the signed bundle in the body (the registry\'s format; installed on this node only, publish it with `omni plugin publish` for the others). ' +
          'The bundle is verified in a temporary folder (signature, trust, revocation, dates, audience, every file), checked against the cluster\'s high-water mark, and only then moved into place; every refusal keeps its code (OMNI_ERR_PLUGIN_SIGNATURE, _UNTRUSTED, _REVOKED, _EXPIRED, _ROLLBACK, _MANIFEST) and leaves the installed plugin as it was. ' +
          'The fabric then reloads. A plugin runs only once its capabilities are approved.',
        tags: TAGS,
        security: SECURITY,
        body: S.InstallBody,
        response: { 201: S.InstallResponse, ...ERRORS },
      },
    },
    async (request, reply) => {
      const { id, version, bundle: upload } = request.body
      const scope = pluginScope(fabric)
      return exclusive(async () => {
        const trust = await scope.trust()
        const bundle = upload ? decodeBundle(Buffer.from(JSON.stringify(upload)), '$.bundle') : await (await registry()).fetch(id, version)
        if (!bundle) throw omniError('OMNI_ERR_NOT_FOUND', `${id}@${version} is not published in the cluster registry; publish it with \`omni plugin publish\` or upload the bundle`)
        const { plugin, highWater } = await installChecked(bundle, { id, version, pluginsDir: scope.settings.dir, trust, verify: scope.verifyOptions() }, await marks())
        const approval = approvalStatus(plugin, await (await approvals()).get(id))
        const reload = await reloadFabric(fabric)
        reply.status(201)
        return {
          plugin: pluginSummary(plugin),
          source: upload ? ('upload' as const) : ('registry' as const),
          highWater: { type: highWater.type, serial: highWater.mark.serial, ...(highWater.type === 'newer' ? { previous: highWater.previous.serial } : {}) },
          approval,
          reload,
        }
      })
    },
  )

  app.post(
    '/v1/plugins/:id/approve',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Approve an installed plugin\'s capabilities',
        description:
          'Records the capabilities of the installed plugin (runtime, emit subjects, memory, time, CPU, pids) as approved for the whole cluster by `by`, as `omni plugin approve --yes`. ' +
          'Pass the `digest` you reviewed to approve only that manifest. The answer lists what widened since the previous approval; the fabric then reloads.',
        tags: TAGS,
        security: SECURITY,
        params: S.IdParams,
        body: S.ApproveBody,
        response: { 200: S.ApproveResponse, ...ERRORS },
      },
    },
    async (request) => {
      const { id } = request.params
      const { by, digest } = request.body
      const scope = pluginScope(fabric)
      return exclusive(async () => {
        const v = await verifyPlugin(await installedDir(scope, id), await scope.trust(), scope.verifyOptions())
        if (v.manifest.id !== id) throw omniError('OMNI_ERR_PLUGIN_MANIFEST', `folder ${id} holds plugin ${v.manifest.id}; nothing was approved`)
        if (digest !== undefined && digest !== v.digest) {
          throw omniError('OMNI_ERR_PLUGIN_APPROVAL', `${id}@${v.manifest.version} was not approved: its manifest digest is ${v.digest}, not the reviewed ${digest}; review it again`)
        }
        const store = await approvals()
        const previous = await store.get(id)
        const widened = previous ? widenedCapabilities(v, previous) : []
        const approval = await store.approve(v, by)
        const reload = await reloadFabric(fabric)
        const brief = (a: typeof approval) => ({ by: a.approvedBy, at: a.approvedAt, version: a.version, serial: a.serial })
        return { plugin: pluginSummary(v), capabilities: approval.capabilities, previous: previous ? brief(previous) : null, widened, approval: brief(approval), reload }
      })
    },
  )

  app.post(
    '/v1/plugins/:id/revoke',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Yank versions of a plugin in the signed revocation list',
        description:
          'As `omni plugin revoke --yank`: re-signs the trust store\'s revocation list with a root key, keeping every earlier entry and adding the versions (default: the installed one). ' +
          '`rootKey` names the root\'s private key file in the trust store\'s `keys` folder on the API server host (a file name, not a path): key bytes are never accepted in a request. A yanked version fails verification with OMNI_ERR_PLUGIN_REVOKED on every node that gets the new list; the fabric reloads. ' +
          'Revoking signing keys stays with the CLI.',
        tags: TAGS,
        security: SECURITY,
        params: S.IdParams,
        body: S.RevokeBody,
        response: { 200: S.RevokeResponse, ...ERRORS },
      },
    },
    async (request) => {
      const { id } = request.params
      const body = request.body
      const scope = pluginScope(fabric)
      const now = scope.verifyOptions().now ?? new Date()
      const expiresAt = body.expiresAt ?? isoSeconds(new Date(now.getTime() + REVOCATIONS_DAYS * 86_400_000))
      futureOrRefuse(expiresAt, now, '$.expiresAt')
      return exclusive(async () => {
        const trust = await scope.trust()
        // a version only in the registry may be yanked too, when it is named
        const known = (await isInstalled(scope, id)) || (body.versions !== undefined && (await (await registry()).list()).some((e) => e.id === id))
        if (!known) throw omniError('OMNI_ERR_NOT_FOUND', `plugin ${id} is not installed on this node${body.versions ? ' nor published in the cluster registry' : ''}`)
        const versions = body.versions ?? [await installedVersion(scope, id, trust)]
        const root = await readServerKey(scope, body.rootKey, '$.rootKey')
        const reason = body.reason ?? DEFAULT_REASON
        const { list, entries } = await updateRevocations(trust, root, { keys: [], yanks: versions.map((version) => ({ id, version })), reason, expiresAt, now })
        const reload = await reloadFabric(fabric)
        return {
          yanked: entries.flatMap((e) => (e.type === 'yank' ? [{ version: e.version, reason: e.reason, added: e.added }] : [])),
          list: { issuedAt: list.issuedAt, expiresAt: list.expiresAt, revokedKeys: list.revokedKeys.length, yanked: list.yanked.length },
          reload,
        }
      })
    },
  )

  app.post(
    '/v1/plugins/:id/promote',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Promote an installed plugin to a higher tier',
        description:
          'As `omni plugin promote` on the installed folder: the plugin must verify as it is, then its manifest gets the new tier and serial + 1 and is re-signed with `key` (the file name of a private key granted the new tier, in the trust store\'s `keys` folder on the API server host; key bytes are never accepted in a request). ' +
          'The code files are not changed. The promoted bundle is published to the cluster registry, its serial recorded as the high-water mark, and it replaces the installed one; the fabric reloads.',
        tags: TAGS,
        security: SECURITY,
        params: S.IdParams,
        body: S.PromoteBody,
        response: { 200: S.PromoteResponse, ...ERRORS },
      },
    },
    async (request) => {
      const { id } = request.params
      const { tier, expiresAt } = request.body
      const scope = pluginScope(fabric)
      const verify = scope.verifyOptions()
      if (expiresAt) futureOrRefuse(expiresAt, verify.now ?? new Date(), '$.expiresAt')
      return exclusive(async () => {
        await installedDir(scope, id)
        const key = await readServerKey(scope, request.body.key, '$.key')
        const opts = { pluginsDir: scope.settings.dir, id, tier, trust: await scope.trust(), verify, ...(expiresAt ? { expiresAt } : {}) }
        const r = await promoteInstalled(key, opts, await marks(), await registry())
        const reload = await reloadFabric(fabric)
        return { plugin: pluginSummary(r.plugin), from: r.from, published: { name: r.published.name, serial: r.published.serial }, highWater: { type: r.highWater.type, serial: r.highWater.mark.serial }, reload }
      })
    },
  )
}

/** Drops a cached bucket handle that failed to open, so the next request tries again. */
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
