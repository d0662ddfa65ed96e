import Type, { type Static } from 'typebox'
import { TIERS } from '../plugins/tiers.ts'
import { MESH_NAME_PATTERN } from '../wire/mod.ts'
import { ANY_TENANT, DEFAULT_PEER_TENANT } from './config.ts'

/** The shape of a `kind: Mesh` manifest (docs/mesh.md); the rules between fields are in manifest-rules.ts. */

const name = (description: string) => Type.String({ pattern: MESH_NAME_PATTERN, description: `${description}: a lower-case letter, then up to 31 lower-case letters, digits or -` })
const file = (description: string) => Type.String({ minLength: 1, maxLength: 4096, description: `${description} (a path relative to the manifest)` })
const Level = Type.Union([Type.Literal('L1'), Type.Literal('L2'), Type.Literal('L3')], { description: 'L1: a person approves; L2: install and notify; L3: install with an audit event' })

export const MeshManifestSchema = Type.Object(
  {
    kind: Type.Literal('Mesh'),
    node: name("this node's name, also its JetStream domain"),
    cluster: name('its cluster'),
    role: Type.Union([Type.Literal('hub'), Type.Literal('leaf')]),
    hubs: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 16, description: 'nats-leaf://host:port (or tls://host:port) URLs' })),
    credentials: Type.Optional(file("this node's login at its hubs")),
    listen: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: 'HOST:PORT where a hub accepts leaf nodes' })),
    members: Type.Optional(
      Type.Array(Type.Object({ node: name('a member node'), cluster: name("the member's cluster"), credentials: file('the login the member uses') }, { additionalProperties: false }), { maxItems: 1024 }),
    ),
    peers: Type.Optional(
      Type.Array(
        Type.Object(
          {
            node: name('a peer node'),
            cluster: name("the peer's cluster"),
            tenants: Type.Optional(
              Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 256, description: `this node's tenants the peer's events may land in (default [${DEFAULT_PEER_TENANT}]; [${ANY_TENANT}]: any, said explicitly)` }),
            ),
          },
          { additionalProperties: false },
        ),
        { maxItems: 1024 },
      ),
    ),
    // checked with guard.trust's own schema, so the two never drift apart
    trust: Type.Optional(Type.Unknown()),
    sovereignty: Type.Optional(
      Type.Object(
        {
          default: Type.Optional(Level),
          keys: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Level)),
          tiers: Type.Optional(Type.Object(Object.fromEntries(TIERS.map((t) => [t, Type.Optional(Level)])), { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
    startOffline: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export type MeshManifest = Static<typeof MeshManifestSchema>
