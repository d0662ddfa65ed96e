import Type from 'typebox'
import { PluginId } from './plugin-contracts.ts'

// the cartridge service's answers as TypeBox schemas: the API validates with them

const Ingested = {
  id: Type.String(),
  type: Type.String(),
  subject: Type.String(),
  idempotencykey: Type.String(),
  seq: Type.Integer(),
  duplicate: Type.Boolean({ description: 'true when this exact cartridge (id, version, serial, digest) or list was already published' }),
}

export const PublishResponse = Type.Object({
  ...Ingested,
  plugin: Type.Object({ id: Type.String(), version: Type.String(), serial: Type.Integer(), tier: Type.String(), digest: Type.String(), keyid: Type.String() }),
})

export const PublishRevocationsResponse = Type.Object({ ...Ingested, issuedAt: Type.String(), revokedKeys: Type.Integer(), yanked: Type.Integer() })

export const PendingCartridge = Type.Object({
  id: Type.String(),
  version: Type.String(),
  serial: Type.Integer(),
  tier: Type.String(),
  keyid: Type.String({ description: 'the publisher key that signed it' }),
  signer: Type.String({ description: "that key's name in this node's trust store" }),
  digest: Type.String(),
  origin: Type.String({ description: 'the node it was received from' }),
  cluster: Type.String({ description: "the origin node's cluster" }),
  event: Type.String({ description: 'the id of the received cartridge.published event' }),
  receivedAt: Type.String(),
  runtime: Type.String(),
  capabilities: Type.Record(Type.String(), Type.Unknown(), { description: 'what it asks for (emit subjects, memory, time, network…): approving installs it and approves these' }),
})

export const PendingList = Type.Object({ cartridges: Type.Array(PendingCartridge) })
export const PendingParams = Type.Object({ id: PluginId }, { additionalProperties: false })

/** Publishing takes nothing but the path: the plugin is the installed one, verified now. */
export const EmptyBody = Type.Object({}, { additionalProperties: false })

export const ApprovePendingBody = Type.Object(
  // no approver name: the approval records the identity of the token that made the request
  { digest: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: 'approve only if the queued cartridge still has this manifest digest (the one reviewed in GET /v1/plugins/pending)' })) },
  { additionalProperties: false },
)

export const RejectPendingBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500, pattern: '\\S', description: 'why, recorded in the cartridge.refused event' })) },
  { additionalProperties: false },
)
