// Baileys message content (what Evolution API forwards in messages.upsert) → provider-neutral
// message events. WhatsApp wraps content in envelopes (ephemeral, view-once, document with
// caption, edited); they are unwrapped first, remembering what they said.
import { PROVIDER_META_KEY } from '../envelope/schema.ts'
import { omniError } from '../errors/mod.ts'
import { isObj, str, type Obj } from './json.ts'
import type { AdaptedEvent } from './types.ts'

const WRAPPERS = ['ephemeralMessage', 'viewOnceMessage', 'viewOnceMessageV2', 'viewOnceMessageV2Extension', 'documentWithCaptionMessage'] as const
/**
 * Keys beside the content that carry no content of their own; Evolution adds `base64` (with
 * WEBHOOK_BASE64) and `mediaUrl` (with S3) next to the media message.
 */
const METADATA = new Set(['messageContextInfo', 'senderKeyDistributionMessage', 'base64', 'mediaUrl'])

const MEDIA: Record<string, string> = { imageMessage: 'image', videoMessage: 'video', audioMessage: 'audio', documentMessage: 'document', stickerMessage: 'sticker', ptvMessage: 'video' }
const POLLS = new Set(['pollCreationMessage', 'pollCreationMessageV2', 'pollCreationMessageV3'])

/** Protocol message types (WAProto ProtocolMessage.Type), by number and by name. */
const REVOKE = new Set<unknown>([0, 'REVOKE'])
const EDIT = new Set<unknown>([14, 'MESSAGE_EDIT'])

export interface MessageContext {
  readonly event: string
  /** the path of this message in the body, for error reports */
  readonly at: string
  /** the instance's own WhatsApp id (the body's `sender`): the actor of what it sent itself */
  readonly self?: string
  /** the message an update edits, when the key names the update rather than the original */
  readonly editOf?: string
}

/** Epoch seconds (a number, a string, or Long's {low}) → RFC 3339 UTC. */
export function secondsToUtc(v: unknown): string | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : isObj(v) && typeof v['low'] === 'number' ? v['low'] : NaN
  return Number.isFinite(n) && n > 0 ? new Date(n * 1000).toISOString() : undefined
}

/** One Baileys WebMessageInfo → the events it stands for (one, normally). */
export function messageEvents(msg: unknown, ctx: MessageContext): AdaptedEvent[] {
  if (!isObj(msg) || !isObj(msg['key'])) throw invalid(ctx, `${ctx.at}.key`, 'is required (the message key)')
  const key = msg['key']
  const id = str(key['id'])
  if (!id) throw invalid(ctx, `${ctx.at}.key.id`, 'must be a non-empty string')
  const remoteJid = str(key['remoteJid'])
  const participant = str(key['participant']) ?? str(msg['participant'])
  const fromSelf = key['fromMe'] === true
  let content = isObj(msg['message']) ? msg['message'] : {}
  let viewOnce = false
  for (let depth = 0; depth < 4; depth++) {
    const wrapper = WRAPPERS.find((w) => isObj(content[w]) && isObj((content[w] as Obj)['message']))
    if (!wrapper) break
    if (wrapper.startsWith('viewOnce')) viewOnce = true
    content = (content[wrapper] as Obj)['message'] as Obj
  }
  const contentKey = Object.keys(content).find((k) => !METADATA.has(k) && (k === 'conversation' || isObj(content[k]))) ?? str(msg['messageType']) ?? 'unknown'
  const body = isObj(content[contentKey]) ? (content[contentKey] as Obj) : {}
  const meta = { event: ctx.event, messageType: contentKey, ...(remoteJid ? { remoteJid } : {}), ...(participant ? { participant } : {}), ...(str(msg['pushName']) ? { pushName: msg['pushName'] } : {}) }
  const common = {
    ...(secondsToUtc(msg['messageTimestamp']) ? { time: secondsToUtc(msg['messageTimestamp']) } : {}),
    // what the instance sent itself has the instance as its actor, when the body names it
    ...(fromSelf ? (ctx.self ? { actor: ctx.self } : {}) : participant ?? remoteJid ? { actor: (participant ?? remoteJid) as string } : {}),
    ...(remoteJid ? { conversation: remoteJid } : {}),
  }
  const event = (type: string, data: Obj): AdaptedEvent => ({ type, data: { ...data, [PROVIDER_META_KEY]: meta }, ...common })

  if (contentKey === 'protocolMessage' || contentKey === 'editedMessage') {
    // editedMessage wraps either a protocolMessage (messages.upsert) or, in Baileys' own
    // messages.update for an edit, the new content itself
    const inner = contentKey === 'editedMessage' && isObj(body['message']) ? (body['message'] as Obj) : undefined
    const proto = inner ? (isObj(inner['protocolMessage']) ? (inner['protocolMessage'] as Obj) : { type: 'MESSAGE_EDIT', editedMessage: inner }) : body
    const target = str(isObj(proto['key']) ? (proto['key'] as Obj)['id'] : undefined) ?? ctx.editOf ?? id
    if (REVOKE.has(proto['type'])) return [event('message.deleted', { providerMessageId: target, fromSelf })]
    if (EDIT.has(proto['type']) || contentKey === 'editedMessage') {
      const text = textOf(isObj(proto['editedMessage']) ? (proto['editedMessage'] as Obj) : {})
      return [event('message.edited', { providerMessageId: id, targetMessageId: target, fromSelf, ...(text !== undefined ? { text } : {}) })]
    }
    // other protocol messages (history sync, ephemeral settings, app-state key shares) are
    // WhatsApp's plumbing and carry media and encryption keys: only their type enters the
    // event; the raw archive keeps the whole body
    return [event('provider.unknown', { providerType: `${ctx.event}:protocolMessage:${String(proto['type'])}`, digest: id, payload: { type: proto['type'] ?? null } })]
  }
  if (contentKey === 'reactionMessage') {
    const target = str(isObj(body['key']) ? (body['key'] as Obj)['id'] : undefined)
    if (!target) throw invalid(ctx, `${ctx.at}.message.reactionMessage.key.id`, 'must be a non-empty string')
    // an empty reaction text is WhatsApp's way of taking a reaction back
    return [event('message.reaction', { providerMessageId: id, targetMessageId: target, reaction: typeof body['text'] === 'string' ? body['text'] : '', fromSelf })]
  }
  if (contentKey === 'pollUpdateMessage') {
    const poll = str(isObj(body['pollCreationMessageKey']) ? (body['pollCreationMessageKey'] as Obj)['id'] : undefined)
    if (!poll) throw invalid(ctx, `${ctx.at}.message.pollUpdateMessage.pollCreationMessageKey.id`, 'must be a non-empty string')
    // votes are encrypted; Evolution adds the decrypted selection when it can
    const votes = Array.isArray(msg['pollUpdates']) ? msg['pollUpdates'] : Array.isArray(body['selectedOptions']) ? body['selectedOptions'] : []
    // an aggregate ({ name, voters }) lists every option: only those with voters were chosen
    const chosen = votes.filter((v) => !(isObj(v) && Array.isArray(v['voters']) && v['voters'].length === 0))
    const selectedOptions = chosen.flatMap((v) => (typeof v === 'string' ? [v] : isObj(v) && typeof v['name'] === 'string' ? [v['name']] : isObj(v) && typeof v['optionName'] === 'string' ? [v['optionName']] : []))
    return [event('poll.voted', { providerMessageId: id, pollMessageId: poll, selectedOptions, fromSelf })]
  }

  const contextInfo = (isObj(body['contextInfo']) ? body['contextInfo'] : isObj(msg['contextInfo']) ? msg['contextInfo'] : {}) as Obj
  const data: Obj = { kind: kindOf(contentKey), providerMessageId: id, fromSelf, forwarded: contextInfo['isForwarded'] === true }
  if (viewOnce || body['viewOnce'] === true) data['viewOnce'] = true
  const text = textOf({ [contentKey]: content[contentKey] })
  if (text !== undefined) data['text'] = text.slice(0, 65536)
  const quoted = str(contextInfo['stanzaId'])
  if (quoted) data['quotedMessageId'] = quoted
  if (MEDIA[contentKey]) {
    const ref = str(body['url']) ?? str(body['directPath'])
    data['media'] = { ...(str(body['mimetype']) ? { mimetype: body['mimetype'] } : {}), ...(typeof body['seconds'] === 'number' ? { seconds: body['seconds'] } : {}), ...(ref ? { ref } : {}) }
  }
  return [event('message.received', data)]
}

function kindOf(contentKey: string): string {
  if (contentKey === 'conversation' || contentKey === 'extendedTextMessage') return 'text'
  if (MEDIA[contentKey]) return MEDIA[contentKey] as string
  if (POLLS.has(contentKey)) return 'poll'
  if (contentKey === 'locationMessage' || contentKey === 'liveLocationMessage') return 'location'
  if (contentKey === 'contactMessage' || contentKey === 'contactsArrayMessage') return 'contact'
  return 'unknown'
}

/** The readable text of a content object: the body, a caption, a poll's question, a place's name. */
function textOf(content: Obj): string | undefined {
  if (typeof content['conversation'] === 'string') return content['conversation']
  for (const [k, v] of Object.entries(content)) {
    if (!isObj(v) || METADATA.has(k)) continue
    for (const field of ['text', 'caption', 'name', 'displayName', 'fileName']) if (typeof v[field] === 'string') return v[field] as string
  }
  return undefined
}

export function invalid(ctx: { event: string }, where: string, message: string) {
  return omniError('OMNI_ERR_WEBHOOK_INVALID', `an Evolution ${ctx.event} delivery the adapter cannot read`, { problems: [{ where, message }], permanent: true })
}
