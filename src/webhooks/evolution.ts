// WhatsApp through Evolution API (v2): a webhook body is `{ event, instance, data, date_time,
// sender, server_url, apikey }`, `event` in dotted lower case (messages.upsert) or, with
// webhook_by_events, upper case with underscores (MESSAGES_UPSERT). Each event maps to a
// provider-neutral catalog type; Evolution's own names stay in data._provider.
import { omniError } from '../errors/mod.ts'
import { toUtc } from './generic.ts'
import { invalid, messageEvents } from './evolution-messages.ts'
import { digestOf as digest, isObj, list, providerMeta, str, unknownEvent, type Obj } from './json.ts'
import type { AdaptedEvent, WebhookAdapter, WebhookDelivery } from './types.ts'

/** `MESSAGES_UPSERT`, `messages-upsert`, `group-participants.update` → dotted lower case. */
export function evolutionEventName(raw: string): string {
  return raw.toLowerCase().replace(/[_-]/g, '.')
}

/** Message status as Baileys and Evolution spell it (WebMessageInfo.Status numbers too). */
const STATUS: Record<string, string> = {
  '0': 'failed', ERROR: 'failed', '1': 'pending', PENDING: 'pending', '2': 'sent', SERVER_ACK: 'sent',
  '3': 'delivered', DELIVERY_ACK: 'delivered', '4': 'read', READ: 'read', '5': 'played', PLAYED: 'played',
}

const PRESENCE_STATES: Record<string, string> = { open: 'open', connecting: 'connecting', close: 'closed', closed: 'closed' }

interface Ctx {
  readonly event: string
  readonly body: Obj
  readonly data: unknown
  readonly observedAt: string
}

type Handler = (ctx: Ctx) => AdaptedEvent[]

const meta = (ctx: Ctx, extra: Obj = {}) => providerMeta(ctx.event, extra)

const self = (ctx: Ctx) => str(ctx.body['sender'])

const messages: Handler = (ctx) => {
  const d = ctx.data
  // messages.set carries a list; messages.upsert one message (or, in older versions, { messages })
  const nested = isObj(d) && Array.isArray(d['messages'])
  const items = Array.isArray(d) ? d : nested ? (d['messages'] as unknown[]) : [d]
  return items.flatMap((m, i) => messageEvents(m, { event: ctx.event, at: Array.isArray(d) ? `$.data[${i}]` : nested ? `$.data.messages[${i}]` : '$.data', ...(self(ctx) ? { self: self(ctx) } : {}) }))
}

// Evolution 2.2+ sends an edit on its own as messages.edited: the protocolMessage itself
const edited: Handler = (ctx) => {
  const d = ctx.data
  if (!isObj(d) || !isObj(d['key'])) throw invalid(ctx, '$.data.key', 'is required (the edited message key)')
  const target = str(d['key']['id'])
  if (!target) throw invalid(ctx, '$.data.key.id', 'must be a non-empty string')
  // the edit has no id of its own: one per target and new content, so a retry is the same edit
  const id = `${target}:edit:${digest(d['editedMessage'])}`
  return messageEvents({ key: { ...d['key'], id }, message: { protocolMessage: d }, messageTimestamp: msToSeconds(d['timestampMs']) }, { event: ctx.event, at: '$.data', editOf: target, ...(self(ctx) ? { self: self(ctx) } : {}) })
}

/**
 * Evolution flattens a status update into `{ keyId, remoteJid, fromMe, status }`; Baileys' own
 * form (and Evolution v1) is `{ key, update: { status } }`, and an update carrying new content
 * (`update.message`) is an edit.
 */
const statusUpdates: Handler = (ctx) =>
  list(ctx.data).flatMap((u, i) => {
    const at = Array.isArray(ctx.data) ? `$.data[${i}]` : '$.data'
    if (!isObj(u)) throw invalid(ctx, at, 'must be an object')
    const key = isObj(u['key']) ? u['key'] : u
    const target = isObj(u['key']) ? str(key['id']) : str(u['keyId']) ?? str(u['id'])
    if (!target) throw invalid(ctx, isObj(u['key']) ? `${at}.key.id` : `${at}.keyId`, 'must be a non-empty string (the message the update is about)')
    const update = isObj(u['update']) ? u['update'] : u
    if (isObj(update['message'])) {
      const id = `${target}:update:${digest(update['message'])}`
      const when = update['messageTimestamp'] ?? u['messageTimestamp']
      return messageEvents({ key: { ...key, id }, message: update['message'], messageTimestamp: when }, { event: ctx.event, at, editOf: target, ...(self(ctx) ? { self: self(ctx) } : {}) })
    }
    const raw = update['status'] ?? u['status']
    const status = STATUS[String(raw)] ?? 'unknown'
    const remoteJid = str(key['remoteJid'])
    return [{ type: 'message.status', data: { targetMessageId: target, status, fromSelf: key['fromMe'] === true, providerStatus: String(raw), ...meta(ctx, { remoteJid }) }, ...(remoteJid ? { conversation: remoteJid } : {}) }]
  })

const deletes: Handler = (ctx) =>
  list(ctx.data).map((d, i) => {
    const at = Array.isArray(ctx.data) ? `$.data[${i}]` : '$.data'
    const key = isObj(d) && isObj(d['key']) ? d['key'] : isObj(d) ? d : undefined
    const id = key ? str(key['id']) : undefined
    if (!key || !id) throw invalid(ctx, isObj(d) && isObj(d['key']) ? `${at}.key.id` : `${at}.id`, 'must be a non-empty string (the deleted message id)')
    const remoteJid = str(key['remoteJid'])
    return { type: 'message.deleted', data: { providerMessageId: id, fromSelf: key['fromMe'] === true, ...meta(ctx, { remoteJid }) }, ...(remoteJid ? { conversation: remoteJid } : {}) }
  })

const presence: Handler = (ctx) => {
  const d = ctx.data
  if (!isObj(d) || !str(d['id'])) throw invalid(ctx, '$.data.id', 'must be a non-empty string (the chat)')
  const presences = isObj(d['presences']) ? d['presences'] : {}
  const participants = Object.entries(presences).map(([participantId, p]) => ({
    participantId,
    presence: isObj(p) ? String(p['lastKnownPresence'] ?? 'unknown') : 'unknown',
    ...(isObj(p) && secondsOrIso(p['lastSeen']) ? { lastSeen: secondsOrIso(p['lastSeen']) } : {}),
  }))
  return [{ type: 'presence.updated', data: { conversationId: d['id'], participants, observedAt: ctx.observedAt, ...meta(ctx) }, conversation: d['id'] as string }]
}

const contacts =
  (change: string): Handler =>
  (ctx) => {
    const items = list(ctx.data).filter(isObj)
    const found = items.map((c) => ({ contactId: String(c['remoteJid'] ?? c['id'] ?? ''), ...(str(c['pushName'] ?? c['name'] ?? c['notify']) ? { name: String(c['pushName'] ?? c['name'] ?? c['notify']) } : {}), ...(str(c['profilePicUrl'] ?? c['profilePictureUrl']) ? { pictureUrl: String(c['profilePicUrl'] ?? c['profilePictureUrl']) } : {}) })).filter((c) => c.contactId !== '')
    return [{ type: 'contact.updated', data: { change, contacts: found, digest: digest(ctx.data), ...meta(ctx) } }]
  }

const chats =
  (change: string): Handler =>
  (ctx) => {
    const ids = list(ctx.data).flatMap((c) => (typeof c === 'string' ? [c] : isObj(c) && str(c['remoteJid'] ?? c['id']) ? [String(c['remoteJid'] ?? c['id'])] : []))
    return [{ type: 'chat.updated', data: { change, conversations: ids, digest: digest(ctx.data), ...meta(ctx) } }]
  }

const groups =
  (change: 'created' | 'updated'): Handler =>
  (ctx) =>
    list(ctx.data).map((g, i) => {
      if (!isObj(g) || !str(g['id'])) throw invalid(ctx, Array.isArray(ctx.data) ? `$.data[${i}].id` : '$.data.id', 'must be a non-empty string (the group)')
      const data: Obj = { groupId: g['id'], change, digest: digest(g), ...meta(ctx) }
      if (typeof g['subject'] === 'string') data['subject'] = g['subject']
      if (typeof g['desc'] === 'string') data['description'] = g['desc']
      if (typeof g['announce'] === 'boolean') data['announce'] = g['announce']
      if (typeof g['restrict'] === 'boolean') data['restrict'] = g['restrict']
      if (typeof g['size'] === 'number') data['size'] = g['size']
      // who changed it (Baileys' author); a new group's owner created it
      const actor = str(g['author']) ?? (change === 'created' ? str(g['owner']) : undefined)
      return { type: 'group.updated', data, conversation: g['id'] as string, ...(actor ? { actor } : {}) }
    })

const participants: Handler = (ctx) => {
  const d = ctx.data
  if (!isObj(d) || !str(d['id'])) throw invalid(ctx, '$.data.id', 'must be a non-empty string (the group)')
  const action = ['add', 'remove', 'promote', 'demote'].includes(String(d['action'])) ? String(d['action']) : 'unknown'
  // Baileys 7 lists participants as { id, phoneNumber, admin } instead of ids
  const people = list(d['participants']).map((p) => (isObj(p) ? String(p['id'] ?? '') : String(p)))
  const author = str(d['author'])
  return [{ type: 'group.participants', data: { groupId: d['id'], action, participants: people, digest: digest(d), ...meta(ctx, { action: d['action'] }) }, conversation: d['id'] as string, ...(author ? { actor: author } : {}) }]
}

const connection: Handler = (ctx) => {
  const d = isObj(ctx.data) ? ctx.data : {}
  const state = PRESENCE_STATES[String(d['state'])] ?? 'unknown'
  return [{ type: 'connection.updated', data: { state, ...(d['statusReason'] !== undefined ? { reason: String(d['statusReason']) } : {}), observedAt: ctx.observedAt, ...meta(ctx, { state: d['state'] }) } }]
}

// the QR code itself is a credential for the account: it never enters an event
const qrcode: Handler = (ctx) => [{ type: 'connection.updated', data: { state: 'qrcode', observedAt: ctx.observedAt, ...meta(ctx) } }]

const calls: Handler = (ctx) =>
  list(ctx.data).map((c, i) => {
    if (!isObj(c) || !str(c['id'])) throw invalid(ctx, Array.isArray(ctx.data) ? `$.data[${i}].id` : '$.data.id', 'must be a non-empty string (the call)')
    const from = str(c['from'])
    const chat = str(c['groupJid']) ?? str(c['chatId'])
    const time = toUtc(c['date'])
    return { type: 'call.received', data: { callId: c['id'], status: String(c['status'] ?? 'unknown'), video: c['isVideo'] === true, ...(from ? { fromId: from } : {}), ...meta(ctx, { isGroup: c['isGroup'] === true }) }, ...(from ? { actor: from } : {}), ...(chat ? { conversation: chat } : {}), ...(time ? { time } : {}) }
  })

// labels.edit carries the label ({ id, name, color, deleted }); labels.association which label
// was added to or removed from which chat ({ type, chatId, labelId })
const labels =
  (change: 'edit' | 'association'): Handler =>
  (ctx) => {
    const d = isObj(ctx.data) ? ctx.data : {}
    const label = isObj(d['label']) ? d['label'] : d
    const labelId = str(label['labelId']) ?? str(label['id'])
    const chat = str(d['chatId'])
    const extra: Obj = { ...(typeof d['type'] === 'string' ? { action: d['type'] } : {}), ...(label['deleted'] === true ? { deleted: true } : {}) }
    return [{ type: 'label.updated', data: { change, ...(labelId ? { labelId } : {}), ...(str(label['name']) ? { name: label['name'] } : {}), digest: digest(ctx.data), ...meta(ctx, extra) }, ...(chat ? { conversation: chat } : {}) }]
  }

const HANDLERS: Record<string, Handler> = {
  'messages.upsert': messages,
  'messages.set': messages,
  'send.message': messages,
  'messages.edited': edited,
  'messages.update': statusUpdates,
  'messages.delete': deletes,
  'presence.update': presence,
  'contacts.set': contacts('set'),
  'contacts.upsert': contacts('upsert'),
  'contacts.update': contacts('update'),
  'chats.set': chats('set'),
  'chats.upsert': chats('upsert'),
  'chats.update': chats('update'),
  'chats.delete': chats('delete'),
  'groups.upsert': groups('created'),
  'groups.update': groups('updated'),
  'group.update': groups('updated'),
  'group.participants.update': participants,
  'connection.update': connection,
  'qrcode.updated': qrcode,
  call: calls,
  'labels.edit': labels('edit'),
  'labels.association': labels('association'),
}

function secondsOrIso(v: unknown): string | undefined {
  return typeof v === 'number' ? new Date(v * 1000).toISOString() : toUtc(v)
}

/** Milliseconds (a number or Long's string) → seconds, as messageTimestamp holds them. */
function msToSeconds(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN
  return Number.isFinite(n) && n > 0 ? Math.floor(n / 1000) : undefined
}

export const evolutionAdapter: WebhookAdapter = {
  name: 'evolution',
  // every delivery carries the instance's API key, which can drive the WhatsApp account
  secretFields: ['apikey'],
  normalize(delivery: WebhookDelivery): AdaptedEvent[] {
    const body = delivery.body
    if (!isObj(body)) throw omniError('OMNI_ERR_WEBHOOK_INVALID', 'an Evolution webhook body is a JSON object', { problems: [{ where: '$', message: 'must be an object' }], permanent: true })
    const raw = body['event']
    if (typeof raw !== 'string' || raw === '') throw omniError('OMNI_ERR_WEBHOOK_INVALID', 'an Evolution webhook names its event', { problems: [{ where: '$.event', message: 'must be a non-empty string' }], permanent: true })
    const event = evolutionEventName(raw)
    const observedAt = toUtc(body['date_time']) ?? new Date(delivery.receivedAt).toISOString()
    const handler = HANDLERS[event]
    if (!handler) return [unknownEvent(event, body['data'], body['data'] ?? body)]
    return handler({ event, body, data: body['data'], observedAt })
  },
}
