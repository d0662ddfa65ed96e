import type { JetStreamManager, StreamSource } from '@nats-io/jetstream'
import { isNotFound } from '../jetstream/topology.ts'
import { meshInboxEpochKey, meshInboxStream, sourcedSequence, STREAM_SOURCE_HEADER, MESH_SUBJECT_PREFIX, type MeshVisibility } from '../wire/mod.ts'
import type { MeshPeer } from './config.ts'
import { inboxSources, inboxStreamConfig, inboxVisibilities, type InboxLimits } from './inbox.ts'
import type { OutboxMarks } from './outbox.ts'

/**
 * A peer whose outbox is recreated (a wiped store, `omni up` again) starts it at sequence 1, but
 * the inbox's JetStream source keeps asking for the sequences after the last one it sourced (the
 * server reads it back from the Nats-Stream-Source headers the inbox holds, even when the source
 * is removed and added again): the new events never arrive and the lag reads 0. Each hello names
 * the epoch (a random id set when the outbox was created) and last sequence of every outbox;
 * this compares them with what the inbox recorded and sourced.
 */
export type OutboxCheck =
  | { readonly type: 'same' }
  /** the inbox had no epoch recorded for an outbox yet: record these (its whole metadata) */
  | { readonly type: 'adopt'; readonly metadata: Record<string, string> }
  /** the inbox must be recreated; `resumeAt`: where each unchanged outbox continues */
  | { readonly type: 'reset'; readonly why: string; readonly metadata: Record<string, string>; readonly resumeAt: Partial<Record<MeshVisibility, number>> }

const SAME: OutboxCheck = { type: 'same' }

/**
 * Returns the check of one peer's outboxes against its inbox. An epoch that differs from the one
 * recorded is a new outbox. Without that, a last sequence below what the inbox already sourced is
 * one too, but only when the next hello still says so: events sourced after a hello was sent
 * legitimately run ahead of it, while a hello read later than the inbox cannot.
 */
export function outboxChecker(jsm: JetStreamManager, cluster: string, peer: MeshPeer): (marks: OutboxMarks) => Promise<OutboxCheck> {
  const stream = meshInboxStream(peer.node)
  const suspect = new Map<MeshVisibility, number>()
  return async (marks) => {
    const info = await jsm.streams.info(stream).catch((err: unknown) => {
      if (isNotFound(err)) return undefined
      throw err
    })
    if (!info) return SAME
    const recordedAll = info.config.metadata ?? {}
    const why: string[] = []
    const adopt: Record<string, string> = {}
    const resumeAt: Partial<Record<MeshVisibility, number>> = {}
    for (const vis of inboxVisibilities(cluster, peer)) {
      const mark = marks[vis]
      const sourced = await lastSourced(jsm, stream, vis)
      if (sourced !== undefined) resumeAt[vis] = sourced + 1
      if (!mark) continue
      const recorded = recordedAll[meshInboxEpochKey(vis)]
      const earlier = suspect.get(vis)
      if (recorded && recorded !== mark.epoch) why.push(`its ${vis} outbox was recreated (epoch ${mark.epoch}, the inbox sourced ${recorded})`)
      else if (earlier !== undefined && mark.lastSeq < earlier) why.push(`its ${vis} outbox ends at sequence ${mark.lastSeq}, below the ${earlier} the inbox already sourced`)
      else {
        if (sourced !== undefined && mark.lastSeq < sourced) suspect.set(vis, sourced)
        else suspect.delete(vis)
        if (!recorded) adopt[meshInboxEpochKey(vis)] = mark.epoch
        continue
      }
      delete resumeAt[vis]
    }
    const epochs = Object.fromEntries(Object.entries(marks).map(([vis, m]) => [meshInboxEpochKey(vis as MeshVisibility), m.epoch]))
    if (why.length > 0) {
      suspect.clear()
      return { type: 'reset', why: why.join('; '), metadata: { ...userMetadata(recordedAll), ...epochs }, resumeAt }
    }
    if (Object.keys(adopt).length > 0) return { type: 'adopt', metadata: { ...userMetadata(recordedAll), ...adopt } }
    return SAME
  }
}

/** The outbox sequence of the last message the inbox sourced from the outbox of `vis`; undefined when it holds none. */
async function lastSourced(jsm: JetStreamManager, stream: string, vis: MeshVisibility): Promise<number | undefined> {
  const m = await jsm.streams.getMessage(stream, { last_by_subj: `${MESH_SUBJECT_PREFIX}.${vis}.>` }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined
    throw err
  })
  return sourcedSequence(m?.header.get(STREAM_SOURCE_HEADER))
}

/** The server adds `_nats.*` keys of its own; they are not ours to write back. */
const userMetadata = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('_nats')))

/** Records the epochs of the peer's outboxes on its inbox. */
export async function recordEpochs(jsm: JetStreamManager, peer: MeshPeer, metadata: Record<string, string>): Promise<void> {
  const info = await jsm.streams.info(meshInboxStream(peer.node))
  await jsm.streams.update(info.config.name, { ...info.config, metadata })
}

/**
 * Deletes and recreates the inbox of `peer`: only a fresh stream sources a new outbox from its
 * start. An outbox that did not change continues after what the old inbox held of it.
 */
export async function recreateInbox(jsm: JetStreamManager, cluster: string, receiver: string, peer: MeshPeer, check: Extract<OutboxCheck, { type: 'reset' }>, limits: InboxLimits): Promise<void> {
  const name = meshInboxStream(peer.node)
  const sources: StreamSource[] = inboxSources(cluster, receiver, peer).map((s, i) => {
    const vis = inboxVisibilities(cluster, peer)[i] as MeshVisibility
    const at = check.resumeAt[vis]
    return at === undefined ? s : { ...s, opt_start_seq: at }
  })
  await jsm.streams.delete(name)
  await jsm.streams.add(inboxStreamConfig(name, sources, limits, check.metadata))
}
