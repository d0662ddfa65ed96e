// Discord reaches an HTTP endpoint in three shapes, all read here:
// - interactions (the application's Interactions Endpoint URL): `{ id, type, token, data, … }`,
//   type 1 a PING to answer at once, 2 a slash command, 3 a component, 4 autocomplete, 5 a modal;
// - webhook events (the application's Event Webhooks URL): `{ version: 1, application_id,
//   type: 0 (PING) | 1, event: { type, timestamp, data } }`;
// - gateway dispatches relayed by a bot: `{ op: 0, t: 'MESSAGE_CREATE', s, d }`, with an
//   optional `self_id` (the bot's user id) so its own messages are marked fromSelf.
// Discord's names stay in data._provider; the catalog fields are provider-neutral.
import { stableHash } from '../envelope/derive.ts'
import { omniError } from '../errors/mod.ts'
import { toUtc } from './generic.ts'
import { digestOf as digest, isObj, providerMeta as meta, str, unknownEvent as unknown, type Obj } from './json.ts'
import type { AdaptedEvent, AdapterReply, WebhookAdapter, WebhookDelivery } from './types.ts'

const invalid = (where: string, message: string, what: string) => omniError('OMNI_ERR_WEBHOOK_INVALID', `a Discord ${what} the adapter cannot read`, { problems: [{ where, message }], permanent: true })

/** Interaction types (Discord's InteractionType) and the catalog's names for them. */
const INTERACTION_KINDS: Record<number, string> = { 2: 'command', 3: 'component', 4: 'autocomplete', 5: 'modal' }
const PING = 1

/**
 * What an interaction is answered with once it is stored: Discord needs an answer within 3 s,
 * so a command or a modal is deferred (type 5: "thinking…", a pipeline follows up through the
 * interaction token), a component acknowledged without changing its message (type 6), and
 * autocomplete given no choices (type 8).
 */
const INTERACTION_ACK: Record<string, AdapterReply> = {
  command: { status: 200, body: { type: 5 } },
  modal: { status: 200, body: { type: 5 } },
  component: { status: 200, body: { type: 6 } },
  autocomplete: { status: 200, body: { type: 8, data: { choices: [] } } },
}

type Shape = 'interaction' | 'webhook-event' | 'gateway'

function shapeOf(body: Obj): Shape | undefined {
  if (body['op'] === 0 && typeof body['t'] === 'string') return 'gateway'
  // interactions carry `version: 1` too (a PING is `type: 1`), so they are told apart by the
  // token every interaction has and no webhook event does
  if (typeof body['type'] === 'number' && str(body['id']) && str(body['token']) && 'application_id' in body) return 'interaction'
  if (body['version'] === 1 && (body['type'] === 0 || body['type'] === 1) && 'application_id' in body) return 'webhook-event'
  return undefined
}

const where = (conversation: unknown) => (str(conversation) ? { conversation: conversation as string } : {})
/** the user an interaction or dispatch came from: `member.user` in a guild, `user` in a DM */
const userOf = (d: Obj): Obj | undefined => (isObj(d['member']) && isObj(d['member']['user']) ? d['member']['user'] : isObj(d['user']) ? d['user'] : undefined)

function interaction(body: Obj, event = 'INTERACTION_CREATE'): AdaptedEvent[] {
  const id = str(body['id'])
  if (!id) throw invalid('$.id', 'must be a non-empty string (the interaction id)', 'interaction')
  const kind = INTERACTION_KINDS[body['type'] as number] ?? 'unknown'
  const d = isObj(body['data']) ? body['data'] : {}
  const user = userOf(body)
  const data: Obj = { interactionId: id, kind, ...meta(event, { interactionType: body['type'], guildId: body['guild_id'] }) }
  const name = str(d['name']) ?? str(d['custom_id'])
  if (name) data['name'] = name
  if (Array.isArray(d['options'])) data['options'] = commandOptions(d['options'])
  else if (Array.isArray(d['values'])) data['options'] = { values: d['values'] }
  else if (Array.isArray(d['components'])) data['options'] = modalValues(d['components'])
  if (str(body['channel_id'])) data['conversationId'] = body['channel_id']
  return [{ type: 'interaction.received', data, ...(str(user?.['id']) ? { actor: user?.['id'] as string } : {}), ...where(body['channel_id']) }]
}

/** Slash command options by name; a subcommand (group) becomes an object of its own options. */
function commandOptions(options: unknown[]): Obj {
  return Object.fromEntries(options.filter(isObj).map((o) => [String(o['name']), Array.isArray(o['options']) ? commandOptions(o['options']) : (o['value'] ?? null)]))
}

/**
 * A modal's inputs by custom_id. Inputs sit in action rows (`components`) or, in newer modals,
 * in labels (`component`); a text input has a value, a select its values.
 */
function modalValues(components: unknown[], into: Obj = {}): Obj {
  for (const c of components) {
    if (!isObj(c)) continue
    if (str(c['custom_id']) && ('value' in c || Array.isArray(c['values']))) into[c['custom_id'] as string] = 'value' in c ? c['value'] : c['values']
    if (Array.isArray(c['components'])) modalValues(c['components'], into)
    if (isObj(c['component'])) modalValues([c['component']], into)
  }
  return into
}

function messageKind(d: Obj): string {
  if (isObj(d['poll'])) return 'poll'
  if (Array.isArray(d['sticker_items']) && d['sticker_items'].length > 0) return 'sticker'
  const attachment = Array.isArray(d['attachments']) ? d['attachments'].find(isObj) : undefined
  if (attachment) {
    const type = String(attachment['content_type'] ?? '')
    const family = type.split('/')[0] ?? ''
    return ['image', 'audio', 'video'].includes(family) ? family : 'document'
  }
  return str(d['content']) ? 'text' : 'unknown'
}

/** `self` is the relaying bot's user id; `receivedAt` when the route got the delivery (ms). */
type Dispatch = (event: string, d: Obj, self: string | undefined, receivedAt: number) => AdaptedEvent[]

const requireId = (d: Obj, field: string, event: string): string => {
  const v = str(d[field])
  if (!v) throw invalid(`$.d.${field}`, 'must be a non-empty string', `${event} dispatch`)
  return v
}

/** A forward's content is in its snapshot: the forwarding message itself is empty. */
function forwardedContent(d: Obj): Obj | undefined {
  const snapshot = Array.isArray(d['message_snapshots']) ? d['message_snapshots'].find(isObj) : undefined
  return snapshot && isObj(snapshot['message']) ? snapshot['message'] : undefined
}

const messageCreate: Dispatch = (event, d, self) => {
  const id = requireId(d, 'id', event)
  const author = isObj(d['author']) ? d['author'] : {}
  const reference = isObj(d['message_reference']) ? d['message_reference'] : undefined
  // Discord's message_reference type 1 is a forward; type 0 (or none) a reply
  const forwarded = reference?.['type'] === 1
  const content = (forwarded ? forwardedContent(d) : undefined) ?? d
  const kind = messageKind(content)
  const data: Obj = {
    kind,
    providerMessageId: id,
    fromSelf: self !== undefined && author['id'] === self,
    forwarded,
    ...meta(event, { channelId: d['channel_id'], guildId: d['guild_id'], messageType: d['type'], authorIsBot: author['bot'] === true }),
  }
  if (str(content['content'])) data['text'] = content['content']
  if (kind === 'poll') data['text'] = String((content['poll'] as Obj)['question'] && ((content['poll'] as Obj)['question'] as Obj)['text'] || '')
  const attachment = Array.isArray(content['attachments']) ? content['attachments'].find(isObj) : undefined
  if (attachment) data['media'] = { ...(str(attachment['content_type']) ? { mimetype: attachment['content_type'] } : {}), ...(typeof attachment['duration_secs'] === 'number' ? { seconds: attachment['duration_secs'] } : {}), ...(str(attachment['url']) ? { ref: attachment['url'] } : {}) }
  if (reference && !forwarded && str(reference['message_id'])) data['quotedMessageId'] = reference['message_id']
  return [{ type: 'message.received', data, ...(toUtc(d['timestamp']) ? { time: toUtc(d['timestamp']) as string } : {}), ...(str(author['id']) ? { actor: author['id'] as string } : {}), ...where(d['channel_id']) }]
}

const messageUpdate: Dispatch = (event, d, self) => {
  const id = requireId(d, 'id', event)
  // an update with no edit time is not the author's edit (an embed resolved, a pin, a flag):
  // nothing the catalog has a type for
  const editedAt = str(d['edited_timestamp'])
  if (typeof d['content'] !== 'string' || !editedAt) return [unknown(event, d)]
  const author = isObj(d['author']) ? d['author'] : {}
  // one id per edit: the same edit relayed twice (or re-sent as its embeds resolve) is one event
  return [{ type: 'message.edited', data: { providerMessageId: `${id}:edit:${editedAt}`, targetMessageId: id, text: d['content'], fromSelf: self !== undefined && author['id'] === self, ...meta(event, { channelId: d['channel_id'] }) }, ...(toUtc(editedAt) ? { time: toUtc(editedAt) as string } : {}), ...(str(author['id']) ? { actor: author['id'] as string } : {}), ...where(d['channel_id']) }]
}

const messageDelete: Dispatch = (event, d) => {
  const ids = event === 'MESSAGE_DELETE_BULK' ? (Array.isArray(d['ids']) ? d['ids'] : []) : [requireId(d, 'id', event)]
  if (ids.length === 0 || !ids.every((i) => str(i))) throw invalid('$.d.ids', 'must be a non-empty array of message ids', `${event} dispatch`)
  return ids.map((id) => ({ type: 'message.deleted', data: { providerMessageId: id as string, ...meta(event, { channelId: d['channel_id'] }) }, ...where(d['channel_id']) }))
}

const reaction: Dispatch = (event, d, self) => {
  const target = requireId(d, 'message_id', event)
  const user = requireId(d, 'user_id', event)
  const emoji = isObj(d['emoji']) ? d['emoji'] : {}
  const name = String(emoji['name'] ?? emoji['id'] ?? '')
  // as on WhatsApp, a removed reaction is an empty one
  const value = event === 'MESSAGE_REACTION_REMOVE' ? '' : name
  return [{ type: 'message.reaction', data: { providerMessageId: stableHash(event, target, user, name), targetMessageId: target, reaction: value.slice(0, 64), fromSelf: self !== undefined && user === self, ...meta(event, { emoji: name, channelId: d['channel_id'] }) }, actor: user, ...where(d['channel_id']) }]
}

const pollVote: Dispatch = (event, d, self) => {
  const target = requireId(d, 'message_id', event)
  const user = requireId(d, 'user_id', event)
  const answer = String(d['answer_id'] ?? '')
  const selected = event === 'MESSAGE_POLL_VOTE_REMOVE' ? [] : [answer]
  return [{ type: 'poll.voted', data: { providerMessageId: stableHash(event, target, user, answer), pollMessageId: target, selectedOptions: selected, fromSelf: self !== undefined && user === self, ...meta(event, { answerId: d['answer_id'] }) }, actor: user, ...where(d['channel_id']) }]
}

const presence: Dispatch = (event, d, _self, receivedAt) => {
  const user = isObj(d['user']) ? str(d['user']['id']) : str(d['user_id'])
  if (!user) throw invalid(event === 'TYPING_START' ? '$.d.user_id' : '$.d.user.id', 'must be a non-empty string', `${event} dispatch`)
  const conversation = str(d['channel_id']) ?? str(d['guild_id']) ?? user
  const state = event === 'TYPING_START' ? 'composing' : String(d['status'] ?? 'unknown')
  // a presence has no time of its own: the delivery's, so the adapter stays a function of it
  const observedAt = toUtc(d['timestamp']) ?? new Date(receivedAt).toISOString()
  return [{ type: 'presence.updated', data: { conversationId: conversation, participants: [{ participantId: user, presence: state }], observedAt, ...meta(event) }, actor: user, conversation }]
}

const member: Dispatch = (event, d) => {
  const guild = requireId(d, 'guild_id', event)
  const user = isObj(d['user']) ? str(d['user']['id']) : undefined
  if (!user) throw invalid('$.d.user.id', 'must be a non-empty string', `${event} dispatch`)
  const joined = event === 'GUILD_MEMBER_ADD' ? toUtc(d['joined_at']) : undefined
  return [{ type: 'group.participants', data: { groupId: guild, action: event === 'GUILD_MEMBER_ADD' ? 'add' : 'remove', participants: [user], digest: digest(d), ...meta(event) }, conversation: guild, ...(joined ? { time: joined } : {}) }]
}

const guild: Dispatch = (event, d) => {
  const id = requireId(d, 'id', event)
  const data: Obj = { groupId: id, change: event === 'GUILD_CREATE' ? 'created' : 'updated', digest: digest(d), ...meta(event) }
  if (str(d['name'])) data['subject'] = d['name']
  if (str(d['description'])) data['description'] = d['description']
  if (typeof d['member_count'] === 'number') data['size'] = d['member_count']
  return [{ type: 'group.updated', data, conversation: id }]
}

const CHANNEL_CHANGE: Record<string, string> = { CHANNEL_CREATE: 'upsert', CHANNEL_UPDATE: 'update', CHANNEL_DELETE: 'delete' }
const channel: Dispatch = (event, d) => {
  const id = requireId(d, 'id', event)
  return [{ type: 'chat.updated', data: { change: CHANNEL_CHANGE[event], conversations: [id], digest: digest(d), ...meta(event, { guildId: d['guild_id'], name: d['name'] }) }, conversation: id }]
}

const DISPATCH: Record<string, Dispatch> = {
  MESSAGE_CREATE: messageCreate,
  MESSAGE_UPDATE: messageUpdate,
  MESSAGE_DELETE: messageDelete,
  MESSAGE_DELETE_BULK: messageDelete,
  MESSAGE_REACTION_ADD: reaction,
  MESSAGE_REACTION_REMOVE: reaction,
  MESSAGE_POLL_VOTE_ADD: pollVote,
  MESSAGE_POLL_VOTE_REMOVE: pollVote,
  PRESENCE_UPDATE: presence,
  TYPING_START: presence,
  GUILD_MEMBER_ADD: member,
  GUILD_MEMBER_REMOVE: member,
  GUILD_CREATE: guild,
  GUILD_UPDATE: guild,
  CHANNEL_CREATE: channel,
  CHANNEL_UPDATE: channel,
  CHANNEL_DELETE: channel,
  INTERACTION_CREATE: (_event, d) => interaction(d),
}

function readShape(body: unknown): { body: Obj; shape: Shape } {
  if (!isObj(body)) throw invalid('$', 'must be an object', 'webhook body')
  const shape = shapeOf(body)
  if (!shape) throw invalid('$', 'must be an interaction ({ id, type, application_id }), a webhook event ({ version: 1, type, event }) or a gateway dispatch ({ op: 0, t, d })', 'webhook body')
  return { body, shape }
}

export const discordAdapter: WebhookAdapter = {
  name: 'discord',
  normalize(delivery: WebhookDelivery): AdaptedEvent[] {
    const { body, shape } = readShape(delivery.body)
    // a PING is Discord checking the endpoint (answered by reply()), not an event
    if ((shape === 'interaction' && body['type'] === PING) || (shape === 'webhook-event' && body['type'] === 0)) return []
    if (shape === 'interaction') return interaction(body)
    if (shape === 'webhook-event') {
      const event = isObj(body['event']) ? body['event'] : undefined
      const type = str(event?.['type'])
      if (!event || !type) throw invalid('$.event.type', 'must be a non-empty string', 'webhook event')
      // no catalog type stands for application events (authorizations, entitlements): kept as they are
      const data = isObj(event['data']) ? event['data'] : {}
      const user = isObj(data['user']) ? str(data['user']['id']) : undefined
      const time = toUtc(event['timestamp'])
      return [{ ...unknown(type, event['data']), ...(time ? { time } : {}), ...(user ? { actor: user } : {}) }]
    }
    const t = body['t'] as string
    const d = isObj(body['d']) ? body['d'] : undefined
    if (!d) throw invalid('$.d', 'must be an object', `${t} dispatch`)
    const handler = DISPATCH[t]
    return handler ? handler(t, d, str(body['self_id']), delivery.receivedAt) : [unknown(t, d)]
  },
  reply(delivery: WebhookDelivery): AdapterReply | undefined {
    const body = delivery.body
    if (!isObj(body)) return undefined
    const shape = shapeOf(body)
    // Discord checks an endpoint with PINGs: an interaction PING wants { type: 1 }, a webhook-event PING a bare 204
    if (shape === 'interaction' && body['type'] === PING) return { status: 200, body: { type: 1 } }
    if (shape === 'webhook-event' && body['type'] === 0) return { status: 204, body: undefined }
    return undefined
  },
  acknowledge(delivery: WebhookDelivery): AdapterReply | undefined {
    const body = delivery.body
    if (!isObj(body) || shapeOf(body) !== 'interaction') return undefined
    return INTERACTION_ACK[INTERACTION_KINDS[body['type'] as number] ?? '']
  },
}
