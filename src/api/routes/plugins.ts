import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { PluginContracts as S } from '../../node/mod.ts'
import { omniError } from '../../errors/mod.ts'
import type { ApiToken } from '../options.ts'

const TAGS = ['plugins']
const SECURITY = [{ bearer: [] }]
const ERRORS = { '4xx': ErrorResponse, '5xx': ErrorResponse }
/** Uploaded bundles are base64 in JSON; bigger ones go through the registry (`omni plugin publish`). */
const INSTALL_BODY_LIMIT = 16 * 1024 * 1024

/**
 * `/v1/plugins`: list, install (from the registry or an uploaded signed bundle), approve, revoke
 * (yank versions) and promote, as `omni plugin …` does, on the fabric's plugins folder and trust
 * store. Every change reloads the fabric so it rescans the plugins.
 */
export async function pluginRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
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
    async () => app.node.plugins.list(),
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
      const answer = await app.node.plugins.install(request.body)
      return reply.status(201).send(answer)
    },
  )

  app.post(
    '/v1/plugins/:id/approve',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Approve an installed plugin\'s capabilities',
        description:
          'Records the capabilities of the installed plugin (runtime, emit subjects, memory, time, CPU, pids) as approved for the whole cluster, as `omni plugin approve --yes`, bound to its signing key and tier: a re-sign by another key (another publisher\'s plugin of the same id) or at another tier needs approving again. ' +
          'The approver recorded is the calling token, as `token:<name>`; the body names no approver. ' +
          'Pass the `digest` you reviewed to approve only that manifest. The answer lists what widened since the previous approval; the fabric then reloads.',
        tags: TAGS,
        security: SECURITY,
        params: S.IdParams,
        body: S.ApproveBody,
        response: { 200: S.ApproveResponse, ...ERRORS },
      },
    },
    async (request) => app.node.plugins.approve(request.params.id, { by: approverOf(request.apiToken), ...request.body }),
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
    async (request) => app.node.plugins.revoke(request.params.id, request.body),
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
    async (request) => app.node.plugins.promote(request.params.id, request.body),
  )
}

/** The approver an approval records: the token that made the request, by its configured name. */
function approverOf(token: ApiToken | undefined): string {
  // the route is admin-only, so auth has set the token; refuse rather than record no one
  if (!token) throw omniError('OMNI_ERR_UNAUTHORIZED', 'an approval needs the identity of an API token')
  return `token:${token.name}`
}
