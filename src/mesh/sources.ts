import type { JetStreamManager } from '@nats-io/jetstream'
import { meshInboxStream, meshOutboxStream, MESH_VISIBILITIES, type MeshVisibility } from '../wire/mod.ts'
import type { MeshPeer } from './config.ts'

/** How far this node's inbox from one peer is behind, per outbox it sources. */
export interface SourceStatus {
  readonly visibility: MeshVisibility
  /** messages the peer's outbox holds that the inbox has not yet */
  readonly lag: number
  /** seconds since the source last showed activity (messages or heartbeats); undefined: never */
  readonly activeSecondsAgo: number | undefined
  /** what the server reports wrong with the source, such as a permissions violation */
  readonly error: string | undefined
}

/** One peer's inbox stream as the receiving node sees it. */
export interface InboxStatus {
  readonly peer: string
  readonly cluster: string
  readonly stream: string
  /** false until the inbox stream exists (the receiver creates it) */
  readonly exists: boolean
  /** events received from the peer and still held in the inbox */
  readonly messages: number
  /** when the last event from the peer arrived (ISO 8601) */
  readonly lastReceived: string | undefined
  readonly sources: readonly SourceStatus[]
}

const visibilityOf = (name: string): MeshVisibility | undefined => MESH_VISIBILITIES.find((v) => meshOutboxStream(v) === name)

/** Reads every peer's inbox stream; a missing one is reported, not an error. */
export async function readInboxes(jsm: JetStreamManager, peers: readonly MeshPeer[]): Promise<InboxStatus[]> {
  return Promise.all(
    peers.map(async (p): Promise<InboxStatus> => {
      const stream = meshInboxStream(p.node)
      const info = await jsm.streams.info(stream).catch(() => undefined)
      if (!info) return { peer: p.node, cluster: p.cluster, stream, exists: false, messages: 0, lastReceived: undefined, sources: [] }
      const sources: SourceStatus[] = []
      for (const s of info.sources ?? []) {
        const visibility = visibilityOf(s.name)
        if (!visibility) continue
        sources.push({
          visibility,
          lag: s.lag,
          activeSecondsAgo: s.active < 0 ? undefined : Math.round(s.active / 1e6) / 1000,
          error: s.error?.description,
        })
      }
      // the last arrival stays known after the receiver removed what it admitted
      const { messages, last_seq, last_ts } = info.state
      return { peer: p.node, cluster: p.cluster, stream, exists: true, messages, lastReceived: last_seq > 0 && last_ts ? last_ts : undefined, sources }
    }),
  )
}
