import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { CartridgeContracts as S, PluginContracts as P } from '../../node/mod.ts'
import { omniError } from '../../errors/mod.ts'
import type { ApiToken } from '../options.ts'

const TAGS = ['plugins']
const SECURITY = [{ bearer: [] }]
const ERRORS = { '4xx': ErrorResponse, '5xx': ErrorResponse }

/**
 * Cartridges across the mesh: publish an installed plugin or the revocation list as public events
 * (`cartridge.published`, `cartridge.revoked`), and the queue of received cartridges waiting for a
 * person (sovereignty L1), as `omni plugin publish --mesh`, `omni plugin revoke --mesh` and
 * `omni plugin pending` do.
 */
export async function cartridgeRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  app.post(
    '/v1/plugins/:id/publish',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Publish an installed plugin to the mesh',
        description:
          'Verifies the installed plugin now and publishes it as a `cartridge.published` event (visibility public): the signed bundle, its id, version, serial, tier, publisher key and digest. ' +
          'The mesh carries it to every peer, where each node runs its own full verification and its sovereignty level (L1 queue, L2 install with notification, L3 install with audit event). ' +
          'Publishing the same cartridge again is a duplicate, stored once.',
        tags: TAGS,
        security: SECURITY,
        params: P.IdParams,
        body: S.EmptyBody,
        response: { 201: S.PublishResponse, ...ERRORS },
      },
    },
    async (request, reply) => reply.status(201).send(await app.node.cartridges.publish(request.params.id)),
  )

  app.post(
    '/v1/plugins/revocations/publish',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Publish the revocation list to the mesh',
        description:
          "Publishes this node's signed revocation list, byte for byte, as a `cartridge.revoked` event (visibility public). A receiving node verifies it against its own root keys and adopts it only when it is newer and drops no entry it has; then it reloads, stopping the stages of what it revokes.",
        tags: TAGS,
        security: SECURITY,
        body: S.EmptyBody,
        response: { 201: S.PublishRevocationsResponse, ...ERRORS },
      },
    },
    async (_request, reply) => reply.status(201).send(await app.node.cartridges.publishRevocations()),
  )

  app.get(
    '/v1/plugins/pending',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Cartridges from other nodes waiting for approval',
        description: 'Verified cartridges received from peers under sovereignty L1, one per plugin id, with their origin, publisher key, tier and capabilities (bundles left out).',
        tags: TAGS,
        security: SECURITY,
        response: { 200: S.PendingList, ...ERRORS },
      },
    },
    async () => ({ cartridges: await app.node.cartridges.pending() }),
  )

  app.post(
    '/v1/plugins/pending/:id/approve',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Approve a pending cartridge: install it',
        description:
          'Installs the queued cartridge (with `digest`, only if it is still the one reviewed) through the normal install path (verified again: signature, trust store, tier cap, revocations, high-water mark), approves its capabilities as the calling token (`token:<name>`), removes it from the queue and records `cartridge.installed` (level L1). The fabric then reloads.',
        tags: TAGS,
        security: SECURITY,
        params: S.PendingParams,
        body: S.ApprovePendingBody,
        response: { 200: S.PendingCartridge, ...ERRORS },
      },
    },
    async (request) => app.node.cartridges.approve(request.params.id, { by: approverOf(request.apiToken), ...request.body }),
  )

  app.post(
    '/v1/plugins/pending/:id/reject',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Reject a pending cartridge',
        description: 'Removes the queued cartridge without installing it and records `cartridge.refused` with reason `cartridge-rejected`, the calling token and the `reason` given.',
        tags: TAGS,
        security: SECURITY,
        params: S.PendingParams,
        body: S.RejectPendingBody,
        response: { 200: S.PendingCartridge, ...ERRORS },
      },
    },
    async (request) => app.node.cartridges.reject(request.params.id, { by: approverOf(request.apiToken), ...request.body }),
  )
}

/** Who decided: the token that made the request, by its configured name. */
function approverOf(token: ApiToken | undefined): string {
  if (!token) throw omniError('OMNI_ERR_UNAUTHORIZED', 'approving or rejecting a cartridge needs the identity of an API token')
  return `token:${token.name}`
}
