import Type, { type Static } from 'typebox'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'

const Time = (description: string) => Type.String({ description: `${description} (ISO 8601)` })
const Counts = (description: string) => Type.Record(Type.String(), Type.Record(Type.String(), Type.Number()), { description })

const Peer = Type.Object({
  node: Type.String(),
  cluster: Type.String(),
  role: Type.Optional(Type.Union([Type.Literal('hub'), Type.Literal('leaf')])),
  state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unknown')], { description: 'up while it says hello; down after 3 missed hellos (about 6 s); unknown: never heard from since this node started' }),
  since: Time('when the state began'),
  lastSeen: Type.Optional(Time('its last hello')),
  startedAt: Type.Optional(Time("the peer process's start, from its hello")),
  configured: Type.Boolean({ description: 'named in this node\'s `peers`; other nodes are listed once they speak' }),
})

const Link = Type.Object({
  state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unknown'), Type.Literal('none')], { description: "the leaf link to the hub, read from the node's own nats-server (/leafz); none: a hub that joins no other hub; unknown: the node does not run its server" }),
  since: Time('when the state began'),
  hubs: Type.Array(Type.String()),
  remote: Type.Optional(Type.String({ description: 'the server at the other end of the hub link' })),
  rtt: Type.Optional(Type.String()),
  leaves: Type.Array(Type.String(), { description: 'on a hub: the nodes connected as leaves' }),
  dropsLastMinute: Type.Integer(),
  flapping: Type.Boolean({ description: 'the hub keeps dropping the link: likely another server running under this node name' }),
})

const Inbox = Type.Object({
  peer: Type.String(),
  cluster: Type.String(),
  stream: Type.String({ description: 'MESH_IN_<peer>' }),
  exists: Type.Boolean(),
  messages: Type.Integer(),
  lastReceived: Type.Optional(Time('when the last event from the peer arrived')),
  resets: Type.Integer({ description: "times since start the inbox was recreated because the peer's outbox was new (a wiped store)" }),
  sources: Type.Array(
    Type.Object({
      visibility: Type.Union([Type.Literal('cluster'), Type.Literal('public')]),
      lag: Type.Integer({ description: "events in the peer's outbox not received yet" }),
      activeSecondsAgo: Type.Optional(Type.Number({ description: 'since the source last showed activity (events or heartbeats)' })),
      error: Type.Optional(Type.String()),
    }),
  ),
})

export const MeshStatusSchema = Type.Union([
  Type.Object({ enabled: Type.Literal(false) }, { description: 'the node joined no mesh' }),
  Type.Object({
    enabled: Type.Literal(true),
    node: Type.Object({ name: Type.String(), cluster: Type.String(), role: Type.Union([Type.Literal('hub'), Type.Literal('leaf')]), hubs: Type.Array(Type.String()), instance: Type.String() }),
    link: Link,
    peers: Type.Array(Peer),
    clashes: Type.Array(Type.Object({ instance: Type.String(), startedAt: Type.String(), lastSeen: Type.String() }), { description: 'other processes speaking as this node right now' }),
    inboxes: Type.Array(Inbox),
    traffic: Type.Object({
      events: Counts('events by direction (in, out), then visibility'),
      bytes: Counts('bytes by direction (in, out), then visibility'),
      refused: Counts('received events refused, by peer, then reason'),
    }),
    checkedAt: Time('when this was read'),
  }),
])

/** `GET /v1/mesh`: the node's place on the mesh. */
export async function meshRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  app.get(
    '/v1/mesh',
    {
      config: { access: 'read' },
      schema: {
        summary: "The node's mesh: peers, hub link, per-source lag, traffic and refusals",
        description:
          'Peers with their state (up/down since, last hello), the leaf link to the hub, one inbox per peer with its lag per visibility and the last event received, events and bytes in and out by visibility since the process started, and received events refused by peer and reason. `{ enabled: false }` on a node that joined no mesh.',
        tags: ['read'],
        security: [{ bearer: [] }],
        response: { 200: MeshStatusSchema, '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    // the service's arrays are readonly, the schema's static type mutable: the same shape
    async () => (await app.node.mesh.status()) as Static<typeof MeshStatusSchema>,
  )
}
