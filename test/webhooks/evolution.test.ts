import { readdirSync } from 'node:fs'
import t, { type Test } from 'tap'
import { evolutionAdapter, evolutionEventName } from '../../src/webhooks/evolution.ts'
import type { AdaptedEvent } from '../../src/webhooks/types.ts'
import { adaptFixture, delivery, fixture, invalidProblems, neutral, providerMeta, shippedCatalog } from '../fixtures/webhooks/harness.ts'

// Every Evolution API v2 delivery in test/fixtures/webhooks/evolution becomes the catalog events
// below: exact types and provider-neutral data, WhatsApp's names only under data._provider, and
// the shipped catalog accepts each one as adapted (no fallback to provider.unknown).

const catalog = await shippedCatalog()

const SELF = '5511987654321@s.whatsapp.net'
const MARIA = '5511912345678@s.whatsapp.net'
const JOAO = '5521998877665@s.whatsapp.net'
const GROUP = '120363041234567890@g.us'
const AT = '2025-09-26T01:56:50.000Z'
const OBSERVED = '2025-09-26T01:56:51.204Z'
const CDN = (p: string) => `https://mmg.whatsapp.net/v/t62.7118-24/${p}?ccb=11-4&oh=01_Q5AaI&oe=68FA1B2C&_nc_sid=5e03e0&mms3=true`
/** stands for a content digest in expectations (22 base64url characters) */
const DIGEST = '<digest>'

/** WhatsApp/Evolution/Baileys names that must never be a provider-neutral field. */
const WHATSAPP_NAMES = [
  'remoteJid', 'pushName', 'fromMe', 'participant', 'messageType', 'keyId', 'messageId', 'messageTimestamp', 'instanceId', 'jid', 'lastKnownPresence',
  'conversation', 'extendedTextMessage', 'imageMessage', 'contextInfo', 'stanzaId', 'subjectOwner', 'desc', 'isVideo', 'statusReason', 'wuid',
  'base64', 'mediaKey', 'directPath', 'jpegThumbnail', 'apikey', 'qrcode', 'pairingCode',
]

interface Expected {
  readonly type: string
  readonly data: Record<string, unknown>
  readonly actor?: string
  readonly conversation?: string
  readonly time?: string
  /** what data._provider says (at least) */
  readonly meta?: Record<string, unknown>
}

const fromMaria = { actor: MARIA, conversation: MARIA, time: AT }
const received = (providerMessageId: string, kind: string, extra: Record<string, unknown> = {}) => ({ kind, providerMessageId, fromSelf: false, forwarded: false, ...extra })

const CASES: Record<string, readonly Expected[]> = {
  'messages-upsert-conversation': [{ type: 'message.received', data: received('3A7B12F4C9D0E8A61B22', 'text', { text: 'Oi! Tudo bem? Podemos falar amanhã às 10h?' }), ...fromMaria, meta: { event: 'messages.upsert', messageType: 'conversation', remoteJid: MARIA, pushName: 'Maria Souza' } }],
  'messages-upsert-extended-text': [{ type: 'message.received', data: received('3EB0C431C26A1916E9A2F2', 'text', { text: 'Combinado, @5521998877665 leva o contrato', quotedMessageId: '3A7B12F4C9D0E8A61B22' }), ...fromMaria, meta: { messageType: 'extendedTextMessage' } }],
  'messages-upsert-forwarded-text': [{ type: 'message.received', data: received('A1B2C3D4E5F60718293A4B5C6D7E8F90', 'text', { forwarded: true, text: 'Promoção: 20% em todos os planos até sexta' }), ...fromMaria }],
  'messages-upsert-image': [{ type: 'message.received', data: received('3AF1D5E2B7C4A9086E11', 'image', { text: 'Foto do recibo', media: { mimetype: 'image/jpeg', ref: CDN('24567890_1234567890123456_1234567890123456789_n.enc') } }), ...fromMaria, meta: { messageType: 'imageMessage' } }],
  'messages-upsert-video': [{ type: 'message.received', data: received('3A0F8E7D6C5B4A392817', 'video', { text: 'Olha isso', media: { mimetype: 'video/mp4', seconds: 14, ref: CDN('35678901_2345678901234567_2345678901234567890_n.enc') } }), ...fromMaria }],
  'messages-upsert-audio-ptt': [{ type: 'message.received', data: received('3A55C0FFEE11BADC0DE2', 'audio', { forwarded: true, media: { mimetype: 'audio/ogg; codecs=opus', seconds: 9, ref: CDN('46789012_3456789012345678_3456789012345678901_n.enc') } }), ...fromMaria, meta: { messageType: 'audioMessage' } }],
  'messages-upsert-document': [{ type: 'message.received', data: received('3A9D1E2F3A4B5C6D7E8F', 'document', { text: 'contrato-2025.pdf', media: { mimetype: 'application/pdf', ref: CDN('57890123_4567890123456789_4567890123456789012_n.enc') } }), ...fromMaria }],
  'messages-upsert-document-with-caption': [{ type: 'message.received', data: received('3AB7C8D9E0F1A2B3C4D5', 'document', { text: 'Segue o orçamento revisado', media: { mimetype: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', ref: CDN('68901234_5678901234567890_5678901234567890123_n.enc') } }), ...fromMaria, meta: { messageType: 'documentMessage' } }],
  'messages-upsert-sticker': [{ type: 'message.received', data: received('3A1122334455667788AA', 'sticker', { media: { mimetype: 'image/webp', ref: CDN('79012345_6789012345678901_6789012345678901234_n.enc') } }), ...fromMaria, meta: { messageType: 'stickerMessage' } }],
  'messages-upsert-location': [{ type: 'message.received', data: received('3A66778899AABBCCDDEE', 'location', { text: 'MASP' }), ...fromMaria }],
  'messages-upsert-contact': [{ type: 'message.received', data: received('3AFFEEDDCCBBAA998877', 'contact', { text: 'João Pereira' }), ...fromMaria }],
  'messages-upsert-poll-v1': [{ type: 'message.received', data: received('3A0102030405060708AB', 'poll', { text: 'Almoço de sexta?' }), ...fromMaria, meta: { messageType: 'pollCreationMessage' } }],
  'messages-upsert-poll-v3': [{ type: 'message.received', data: received('3EB0A1B2C3D4E5F60718', 'poll', { text: 'Qual horário para a reunião?' }), ...fromMaria, meta: { messageType: 'pollCreationMessageV3' } }],
  // the aggregate lists every option; only the one with voters was chosen
  'messages-upsert-poll-vote': [{ type: 'poll.voted', data: { providerMessageId: '3A9F8E7D6C5B4A3B2C1D', pollMessageId: '3EB0A1B2C3D4E5F60718', selectedOptions: ['14h'], fromSelf: false }, ...fromMaria, meta: { messageType: 'pollUpdateMessage' } }],
  'messages-upsert-reaction': [{ type: 'message.reaction', data: { providerMessageId: '3A4D5E6F708192A3B4C5', targetMessageId: 'BAE5F4E1B6D7C1A2', reaction: '❤️', fromSelf: false }, ...fromMaria }],
  'messages-upsert-reaction-removed': [{ type: 'message.reaction', data: { providerMessageId: '3A4D5E6F708192A3B4C6', targetMessageId: 'BAE5F4E1B6D7C1A2', reaction: '', fromSelf: false }, ...fromMaria }],
  'messages-upsert-view-once-v2': [{ type: 'message.received', data: received('3A7E6D5C4B3A29180706', 'image', { viewOnce: true, text: 'só uma vez 👀', media: { mimetype: 'image/jpeg', ref: CDN('80123456_7890123456789012_7890123456789012345_n.enc') } }), ...fromMaria, meta: { messageType: 'imageMessage' } }],
  'messages-upsert-view-once': [{ type: 'message.received', data: received('3A7E6D5C4B3A29180707', 'image', { viewOnce: true, media: { mimetype: 'image/jpeg', ref: CDN('91234567_8901234567890123_8901234567890123456_n.enc') } }), ...fromMaria }],
  'messages-upsert-ephemeral': [{ type: 'message.received', data: received('3AEE00112233445566FF', 'text', { text: 'Essa conversa some em 7 dias' }), ...fromMaria, meta: { messageType: 'extendedTextMessage' } }],
  'messages-upsert-edited': [{ type: 'message.edited', data: { providerMessageId: '3A13579BDF02468ACE11', targetMessageId: '3A7B12F4C9D0E8A61B22', fromSelf: false, text: 'Oi! Tudo bem? Podemos falar amanhã às 11h?' }, ...fromMaria, meta: { messageType: 'editedMessage' } }],
  'messages-upsert-protocol-edit': [{ type: 'message.edited', data: { providerMessageId: '3A13579BDF02468ACE12', targetMessageId: '3EB0C431C26A1916E9A2F2', fromSelf: false, text: 'Combinado, o João leva o contrato' }, ...fromMaria, meta: { messageType: 'protocolMessage' } }],
  // a revoke in a group: the deleted message is the protocol message's key, the actor who revoked it
  'messages-upsert-protocol-revoke': [{ type: 'message.deleted', data: { providerMessageId: '3AC0FFEE0000111122AB', fromSelf: false }, actor: JOAO, conversation: GROUP, time: AT, meta: { participant: JOAO } }],
  'messages-upsert-protocol-revoke-numeric': [{ type: 'message.deleted', data: { providerMessageId: '3A66778899AABBCCDDEE', fromSelf: false }, ...fromMaria }],
  // WhatsApp plumbing has no catalog type: kept as provider.unknown with only its type
  'messages-upsert-protocol-history-sync': [{ type: 'provider.unknown', data: { providerType: 'messages.upsert:protocolMessage:HISTORY_SYNC_NOTIFICATION', digest: '3A00FF00FF00FF00FF00', payload: { type: 'HISTORY_SYNC_NOTIFICATION' } }, actor: SELF, conversation: SELF, time: AT }],
  'messages-upsert-group-text': [{ type: 'message.received', data: received('3A5566778899AABBCCDD', 'text', { text: 'Bom dia, pessoal!' }), actor: JOAO, conversation: GROUP, time: '2025-09-26T01:56:51.000Z' }],
  'MESSAGES_UPSERT-by-events': [{ type: 'message.received', data: received('3ABCDEF0123456789ABC', 'text', { text: 'Chegou pelo webhook por evento' }), ...fromMaria, meta: { event: 'messages.upsert' } }],
  'messages-set': [
    { type: 'message.received', data: { ...received('BAE5A1B2C3D4E5F6', 'text', { text: 'Até amanhã!' }), fromSelf: true }, actor: SELF, conversation: MARIA, time: '2025-09-25T01:56:40.000Z', meta: { event: 'messages.set' } },
    { type: 'message.received', data: received('3A0000111122223333AA', 'text', { text: 'Reunião confirmada' }), actor: JOAO, conversation: GROUP, time: '2025-09-25T01:58:20.000Z' },
  ],
  // what the instance sent itself: the instance (the body's sender) is the actor
  'send-message': [{ type: 'message.received', data: { ...received('BAE5F4E1B6D7C1A2', 'text', { text: 'Olá Maria, seu pedido #4521 foi enviado.' }), fromSelf: true }, actor: SELF, conversation: MARIA, time: '2025-09-26T01:56:52.000Z', meta: { event: 'send.message' } }],
  'messages-update-delivery-ack': [{ type: 'message.status', data: { targetMessageId: 'BAE5F4E1B6D7C1A2', status: 'delivered', fromSelf: true, providerStatus: 'DELIVERY_ACK' }, conversation: MARIA, meta: { event: 'messages.update', remoteJid: MARIA } }],
  'messages-update-read': [{ type: 'message.status', data: { targetMessageId: 'BAE5F4E1B6D7C1A2', status: 'read', fromSelf: true, providerStatus: 'READ' }, conversation: MARIA }],
  'messages-update-played': [{ type: 'message.status', data: { targetMessageId: 'BAE5C0FFEE00D00D', status: 'played', fromSelf: true, providerStatus: 'PLAYED' }, conversation: MARIA }],
  'messages-update-numeric': [
    { type: 'message.status', data: { targetMessageId: 'BAE5A1B2C3D4E5F6', status: 'delivered', fromSelf: true, providerStatus: '3' }, conversation: MARIA },
    { type: 'message.status', data: { targetMessageId: 'BAE5A1B2C3D4E5F7', status: 'read', fromSelf: true, providerStatus: '4' }, conversation: GROUP },
    { type: 'message.status', data: { targetMessageId: 'BAE5A1B2C3D4E5F8', status: 'failed', fromSelf: true, providerStatus: '0' }, conversation: MARIA },
  ],
  // Baileys' update form of an edit: the key names the edited message, the content is new
  'messages-update-edit': [{ type: 'message.edited', data: { providerMessageId: DIGEST, targetMessageId: '3A7B12F4C9D0E8A61B22', fromSelf: false, text: 'Oi! Tudo bem? Podemos falar amanhã às 9h?' }, actor: MARIA, conversation: MARIA, time: '2025-09-26T01:57:10.000Z', meta: { event: 'messages.update' } }],
  'messages-edited': [{ type: 'message.edited', data: { providerMessageId: DIGEST, targetMessageId: '3A7B12F4C9D0E8A61B22', fromSelf: false, text: 'Oi! Tudo bem? Podemos falar amanhã às 8h?' }, actor: MARIA, conversation: MARIA, time: '2025-09-26T01:57:20.000Z', meta: { event: 'messages.edited' } }],
  'messages-delete': [{ type: 'message.deleted', data: { providerMessageId: '3A9D1E2F3A4B5C6D7E8F', fromSelf: false }, conversation: MARIA, meta: { event: 'messages.delete', remoteJid: MARIA } }],
  'presence-update': [{ type: 'presence.updated', data: { conversationId: GROUP, participants: [{ participantId: JOAO, presence: 'composing' }, { participantId: MARIA, presence: 'unavailable', lastSeen: '2025-09-26T01:55:00.000Z' }], observedAt: OBSERVED }, conversation: GROUP }],
  'contacts-set': [{ type: 'contact.updated', data: { change: 'set', contacts: [{ contactId: MARIA, name: 'Maria Souza' }, { contactId: JOAO, name: 'João' }, { contactId: '5511900001111@s.whatsapp.net' }], digest: DIGEST } }],
  'contacts-upsert': [{ type: 'contact.updated', data: { change: 'upsert', contacts: [{ contactId: MARIA, name: 'Maria Souza', pictureUrl: 'https://pps.whatsapp.net/v/t61.24694-24/12345678_1234567890_n.jpg?ccb=11-4&oh=01_Q5AaI&oe=68FA1B2C' }], digest: DIGEST } }],
  'contacts-update': [{ type: 'contact.updated', data: { change: 'update', contacts: [{ contactId: JOAO, name: 'João P.' }], digest: DIGEST } }],
  'chats-set': [{ type: 'chat.updated', data: { change: 'set', conversations: [MARIA, GROUP], digest: DIGEST } }],
  'chats-upsert': [{ type: 'chat.updated', data: { change: 'upsert', conversations: [JOAO], digest: DIGEST } }],
  'chats-update': [{ type: 'chat.updated', data: { change: 'update', conversations: [MARIA], digest: DIGEST } }],
  'chats-delete': [{ type: 'chat.updated', data: { change: 'delete', conversations: ['5511900001111@s.whatsapp.net'], digest: DIGEST } }],
  'groups-upsert': [{ type: 'group.updated', data: { groupId: GROUP, change: 'created', subject: 'Equipe Vendas', description: 'Metas e pedidos da semana', announce: false, restrict: false, size: 3, digest: DIGEST }, actor: SELF, conversation: GROUP }],
  'groups-update': [{ type: 'group.updated', data: { groupId: GROUP, change: 'updated', announce: true, digest: DIGEST }, actor: JOAO, conversation: GROUP }],
  'group-participants-add': [{ type: 'group.participants', data: { groupId: GROUP, action: 'add', participants: [JOAO], digest: DIGEST }, actor: SELF, conversation: GROUP, meta: { event: 'group.participants.update', action: 'add' } }],
  // Baileys 7 lists participants as objects
  'group-participants-remove': [{ type: 'group.participants', data: { groupId: GROUP, action: 'remove', participants: ['5511900001111@s.whatsapp.net'], digest: DIGEST }, actor: SELF, conversation: GROUP }],
  'group-participants-promote': [{ type: 'group.participants', data: { groupId: GROUP, action: 'promote', participants: [MARIA], digest: DIGEST }, actor: SELF, conversation: GROUP }],
  'group-participants-demote': [{ type: 'group.participants', data: { groupId: GROUP, action: 'demote', participants: [JOAO], digest: DIGEST }, actor: MARIA, conversation: GROUP }],
  'connection-open': [{ type: 'connection.updated', data: { state: 'open', reason: '200', observedAt: OBSERVED }, meta: { event: 'connection.update', state: 'open' } }],
  'connection-connecting': [{ type: 'connection.updated', data: { state: 'connecting', reason: '200', observedAt: OBSERVED } }],
  'connection-close': [{ type: 'connection.updated', data: { state: 'closed', reason: '401', observedAt: OBSERVED }, meta: { state: 'close' } }],
  'qrcode-updated': [{ type: 'connection.updated', data: { state: 'qrcode', observedAt: OBSERVED }, meta: { event: 'qrcode.updated' } }],
  call: [{ type: 'call.received', data: { callId: 'A1F0B2E3C4D5E6F708192A3B4C5D6E7F', status: 'offer', video: true, fromId: MARIA }, actor: MARIA, conversation: MARIA, time: '2025-09-26T01:56:40.000Z' }],
  'labels-edit': [{ type: 'label.updated', data: { change: 'edit', labelId: '5', name: 'Cliente VIP', digest: DIGEST } }],
  'labels-association': [{ type: 'label.updated', data: { change: 'association', labelId: '5', digest: DIGEST }, conversation: MARIA, meta: { action: 'add' } }],
  'typebot-start': [{ type: 'provider.unknown', data: { providerType: 'typebot.start', digest: DIGEST, payload: { remoteJid: MARIA, url: 'https://typebot.example.com', typebot: 'onboarding-v2', prefilledVariables: { pushName: 'Maria Souza' } } } }],
  'application-startup': [{ type: 'provider.unknown', data: { providerType: 'application.startup', digest: DIGEST, payload: { instance: 'omni-personal', status: 'started' } } }],
}

/** Replaces digests (and ids derived from one) by DIGEST, so expectations can name them. */
function normalizeDigests(data: Record<string, unknown>, expected: Record<string, unknown>): Record<string, unknown> {
  const out = { ...data }
  for (const [k, v] of Object.entries(expected)) {
    if (v === DIGEST && typeof out[k] === 'string' && /[A-Za-z0-9_-]{22}$/.test(out[k] as string)) out[k] = DIGEST
  }
  return out
}

function expectEvents(t: Test, events: readonly AdaptedEvent[], expected: readonly Expected[]): void {
  t.same(events.map((e) => e.type), expected.map((e) => e.type), 'catalog types')
  events.forEach((e, i) => {
    const x = expected[i]
    if (!x) return
    t.same(normalizeDigests(neutral(e), x.data), x.data, `${e.type}: provider-neutral data`)
    t.equal(e.actor, x.actor, 'actor')
    t.equal(e.conversation, x.conversation, 'conversation')
    t.equal(e.time, x.time, 'time')
    t.match(providerMeta(e), { event: String(x.meta?.['event'] ?? providerMeta(e)['event']), ...x.meta }, 'data._provider')
    t.type(providerMeta(e)['event'], 'string', "the provider's event name is kept")
  })
}

t.test('every fixture has its expectation (and every expectation its fixture)', async (t) => {
  const files = readdirSync(new URL('../fixtures/webhooks/evolution/', import.meta.url)).map((f) => f.replace(/\.json$/, '')).sort()
  t.same(files, Object.keys(CASES).sort())
})

for (const [name, expected] of Object.entries(CASES)) {
  t.test(name, async (t) => {
    const events = adaptFixture(t, evolutionAdapter, catalog, 'evolution', name, WHATSAPP_NAMES)
    expectEvents(t, events, expected)
  })
}

t.test('no credential from the body reaches an event: the apikey, the QR code, base64 media', async (t) => {
  for (const name of Object.keys(CASES)) {
    const text = JSON.stringify(evolutionAdapter.normalize(delivery('evolution', fixture('evolution', name))))
    t.notMatch(text, 'B6D711FCDE4D4FD5936544120E713976', `${name}: no apikey`)
    t.notMatch(text, 'base64', `${name}: no base64`)
    t.notMatch(text, '2@y8eK', `${name}: no QR code`)
    t.notMatch(text, 'WZYEH1YY', `${name}: no pairing code`)
  }
})

t.test('event names: upper case with underscores (webhook_by_events) and dashes read as dotted lower case', async (t) => {
  t.equal(evolutionEventName('MESSAGES_UPSERT'), 'messages.upsert')
  t.equal(evolutionEventName('GROUP_PARTICIPANTS_UPDATE'), 'group.participants.update')
  t.equal(evolutionEventName('group-participants.update'), 'group.participants.update')
  t.equal(evolutionEventName('QRCODE_UPDATED'), 'qrcode.updated')
  const upper = fixture('evolution', 'MESSAGES_UPSERT-by-events') as Record<string, unknown>
  const lower = evolutionAdapter.normalize(delivery('evolution', { ...upper, event: 'messages.upsert' }))
  t.same(evolutionAdapter.normalize(delivery('evolution', upper)), lower, 'the same events either way')
})

t.test('a retried delivery adapts to the same events; a second edit of the same message to a new one', async (t) => {
  for (const name of ['messages-update-edit', 'messages-edited', 'contacts-upsert', 'presence-update']) {
    const once = evolutionAdapter.normalize(delivery('evolution', fixture('evolution', name)))
    const again = evolutionAdapter.normalize({ ...delivery('evolution', fixture('evolution', name)), receivedAt: Date.now() })
    t.same(again, once, `${name}: deterministic`)
  }
  const body = fixture('evolution', 'messages-update-edit') as { data: [{ update: { message: { editedMessage: { message: { conversation: string } } } } }] }
  const first = evolutionAdapter.normalize(delivery('evolution', body))[0]
  body.data[0].update.message.editedMessage.message.conversation = 'Na verdade, às 15h'
  const second = evolutionAdapter.normalize(delivery('evolution', body))[0]
  t.equal(second?.data['targetMessageId'], first?.data['targetMessageId'], 'same target')
  t.not(second?.data['providerMessageId'], first?.data['providerMessageId'], 'a distinct edit id')
  t.equal(second?.data['text'], 'Na verdade, às 15h')
})

t.test('messages.upsert in the older { messages: [...] } form', async (t) => {
  const one = (fixture('evolution', 'messages-upsert-conversation') as { data: unknown }).data
  const events = evolutionAdapter.normalize(delivery('evolution', { event: 'messages.upsert', instance: 'x', data: { messages: [one, one] } }))
  t.same(events.map((e) => e.data['providerMessageId']), ['3A7B12F4C9D0E8A61B22', '3A7B12F4C9D0E8A61B22'])
})

t.test('malformed bodies: OMNI_ERR_WEBHOOK_INVALID with the JSON path of the problem', async (t) => {
  const msg = (fixture('evolution', 'messages-upsert-conversation') as { data: Record<string, unknown> }).data
  const cases: [string, unknown, string][] = [
    ['not an object', ['messages.upsert'], '$'],
    ['a string body', 'messages.upsert', '$'],
    ['no event', { instance: 'x', data: msg }, '$.event'],
    ['an empty event', { event: '', data: msg }, '$.event'],
    ['a message without key', { event: 'messages.upsert', data: { message: { conversation: 'x' } } }, '$.data.key'],
    ['a message without key.id', { event: 'messages.upsert', data: { ...msg, key: { remoteJid: MARIA, fromMe: false } } }, '$.data.key.id'],
    ['messages.set, second item without key.id', { event: 'messages.set', data: [msg, { ...msg, key: { remoteJid: MARIA, id: '' } }] }, '$.data[1].key.id'],
    ['the older form without key.id', { event: 'messages.upsert', data: { messages: [{ ...msg, key: {} }] } }, '$.data.messages[0].key.id'],
    ['a reaction without its target', { event: 'messages.upsert', data: { ...msg, message: { reactionMessage: { text: '👍' } } } }, '$.data.message.reactionMessage.key.id'],
    ['a poll vote without its poll', { event: 'messages.upsert', data: { ...msg, message: { pollUpdateMessage: { vote: {} } } } }, '$.data.message.pollUpdateMessage.pollCreationMessageKey.id'],
    ['a flat status update without keyId', { event: 'messages.update', data: { remoteJid: MARIA, status: 'READ' } }, '$.data.keyId'],
    ['a Baileys status update without key.id', { event: 'messages.update', data: [{ key: { remoteJid: MARIA }, update: { status: 4 } }] }, '$.data[0].key.id'],
    ['a status update that is not an object', { event: 'messages.update', data: ['READ'] }, '$.data[0]'],
    ['messages.edited without key', { event: 'messages.edited', data: { type: 'MESSAGE_EDIT' } }, '$.data.key'],
    ['messages.edited without key.id', { event: 'messages.edited', data: { key: { remoteJid: MARIA } } }, '$.data.key.id'],
    ['messages.delete without id', { event: 'messages.delete', data: { remoteJid: MARIA } }, '$.data.id'],
    ['messages.delete, a key without id', { event: 'messages.delete', data: [{ key: { remoteJid: MARIA } }] }, '$.data[0].key.id'],
    ['presence without its chat', { event: 'presence.update', data: { presences: {} } }, '$.data.id'],
    ['groups.upsert, a group without id', { event: 'groups.upsert', data: [{ subject: 'x' }] }, '$.data[0].id'],
    ['group-participants.update without the group', { event: 'group-participants.update', data: { action: 'add', participants: [JOAO] } }, '$.data.id'],
    ['a call without id', { event: 'call', data: { from: MARIA } }, '$.data.id'],
  ]
  for (const [what, body, where] of cases) {
    const problems = invalidProblems(t, () => evolutionAdapter.normalize(delivery('evolution', body)))
    t.same(problems.map((p) => p.where), [where], what)
  }
})
