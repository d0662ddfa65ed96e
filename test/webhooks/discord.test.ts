import { readdirSync } from 'node:fs'
import t, { type Test } from 'tap'
import { discordAdapter } from '../../src/webhooks/discord.ts'
import type { AdaptedEvent } from '../../src/webhooks/types.ts'
import { adaptFixture, delivery, fixture, invalidProblems, neutral, providerMeta, RECEIVED_AT, shippedCatalog } from '../fixtures/webhooks/harness.ts'

// Every Discord delivery in test/fixtures/webhooks/discord — interactions, webhook events and
// gateway dispatches relayed by a bot — becomes the catalog events below, Discord's names only
// under data._provider, and the shipped catalog accepts each one as adapted.

const catalog = await shippedCatalog()

const ALICE = '80351110224678912'
const BOB = '151162055142014976'
const CAROL = '302050872383242240'
const BOT = '1187413829472194560'
const GUILD = '1098765432109876543'
const CHANNEL = '1098765432109876549'
const AT = '2025-09-26T01:56:50.000Z'
const DIGEST = '<digest>'

/** Discord's own field names: never a provider-neutral field. */
const DISCORD_NAMES = [
  'channel_id', 'guild_id', 'message_id', 'user_id', 'custom_id', 'application_id', 'token', 'content', 'attachments', 'sticker_items',
  'message_reference', 'message_snapshots', 'edited_timestamp', 'content_type', 'answer_id', 'emoji', 'member', 'author', 'global_name', 'component_type',
]

interface Expected {
  readonly type: string
  readonly data: Record<string, unknown>
  readonly actor?: string
  readonly conversation?: string
  readonly time?: string
  readonly meta?: Record<string, unknown>
}

const inChannel = { conversation: CHANNEL }
const received = (id: string, kind: string, extra: Record<string, unknown> = {}) => ({ kind, providerMessageId: id, fromSelf: false, forwarded: false, ...extra })

const CASES: Record<string, readonly Expected[]> = {
  // a handshake is answered by reply(), and is no event
  'interaction-ping': [],
  'interaction-command': [{ type: 'interaction.received', data: { interactionId: '1290512345678901234', kind: 'command', name: 'remind', options: { when: 'tomorrow 9am', private: true }, conversationId: CHANNEL }, actor: ALICE, ...inChannel, meta: { event: 'INTERACTION_CREATE', interactionType: 2, guildId: GUILD } }],
  'interaction-subcommand': [{ type: 'interaction.received', data: { interactionId: '1290512345678901235', kind: 'command', name: 'ticket', options: { open: { topic: 'billing', priority: 2 } }, conversationId: CHANNEL }, actor: ALICE, ...inChannel }],
  'interaction-command-dm': [{ type: 'interaction.received', data: { interactionId: '1290512345678901240', kind: 'command', name: 'remind', options: { when: 'friday' }, conversationId: '1290000000000000777' }, actor: BOB, conversation: '1290000000000000777' }],
  'interaction-button': [{ type: 'interaction.received', data: { interactionId: '1290512345678901236', kind: 'component', name: 'approve:order-4521', conversationId: CHANNEL }, actor: ALICE, ...inChannel, meta: { interactionType: 3 } }],
  'interaction-select': [{ type: 'interaction.received', data: { interactionId: '1290512345678901237', kind: 'component', name: 'pick_language', options: { values: ['pt-BR', 'en'] }, conversationId: CHANNEL }, actor: ALICE, ...inChannel }],
  'interaction-autocomplete': [{ type: 'interaction.received', data: { interactionId: '1290512345678901238', kind: 'autocomplete', name: 'remind', options: { when: 'tom' }, conversationId: CHANNEL }, actor: ALICE, ...inChannel }],
  // inputs by custom_id, from an action row and from a label
  'interaction-modal-submit': [{ type: 'interaction.received', data: { interactionId: '1290512345678901239', kind: 'modal', name: 'feedback_modal', options: { feedback_text: 'The reminders are great', rating: ['5'] }, conversationId: CHANNEL }, actor: ALICE, ...inChannel }],
  'webhook-event-ping': [],
  'webhook-event-application-authorized': [{ type: 'provider.unknown', data: { providerType: 'APPLICATION_AUTHORIZED', digest: DIGEST, payload: { integration_type: 1, scopes: ['applications.commands'], user: { id: BOB, username: 'bob.builds', global_name: 'Bob', discriminator: '0', avatar: null, public_flags: 0 } } }, actor: BOB, time: '2025-09-26T01:56:53.064Z' }],
  'gateway-message-create-text': [{ type: 'message.received', data: received('1290600000000000001', 'text', { text: 'Can someone review the contract today?' }), actor: ALICE, ...inChannel, time: AT, meta: { event: 'MESSAGE_CREATE', channelId: CHANNEL, guildId: GUILD, messageType: 0, authorIsBot: false } }],
  'gateway-message-create-image': [{ type: 'message.received', data: received('1290600000000000002', 'image', { text: 'receipt', media: { mimetype: 'image/png', ref: 'https://cdn.discordapp.com/attachments/1098765432109876549/1290600000000000100/receipt.png?ex=66f5a1b2&is=66f45032&hm=8a7c' } }), actor: ALICE, ...inChannel, time: AT }],
  'gateway-message-create-voice': [{ type: 'message.received', data: received('1290600000000000003', 'audio', { media: { mimetype: 'audio/ogg', seconds: 9.1, ref: 'https://cdn.discordapp.com/attachments/1098765432109876549/1290600000000000101/voice-message.ogg' } }), actor: ALICE, ...inChannel, time: AT }],
  'gateway-message-create-sticker': [{ type: 'message.received', data: received('1290600000000000004', 'sticker'), actor: ALICE, ...inChannel, time: AT }],
  'gateway-message-create-poll': [{ type: 'message.received', data: received('1290600000000000005', 'poll', { text: 'Lunch on Friday?' }), actor: ALICE, ...inChannel, time: AT }],
  // a forward is empty itself: its content comes from the snapshot
  'gateway-message-create-forward': [{ type: 'message.received', data: received('1290600000000000006', 'text', { forwarded: true, text: 'Release is on Monday' }), actor: BOB, ...inChannel, time: AT }],
  'gateway-message-create-reply': [{ type: 'message.received', data: received('1290600000000000007', 'text', { text: 'On it, sending it by noon', quotedMessageId: '1290600000000000001' }), actor: BOB, ...inChannel, time: AT, meta: { messageType: 19 } }],
  'gateway-message-create-from-self': [{ type: 'message.received', data: received('1290600000000000008', 'text', { fromSelf: true, text: 'Reminder set for tomorrow 9am' }), actor: BOT, ...inChannel, time: AT, meta: { authorIsBot: true } }],
  'gateway-message-update': [{ type: 'message.edited', data: { providerMessageId: '1290600000000000001:edit:2025-09-26T01:58:02.117000+00:00', targetMessageId: '1290600000000000001', text: 'Can someone review the contract by Friday?', fromSelf: false }, actor: ALICE, ...inChannel, time: '2025-09-26T01:58:02.117Z' }],
  // no edit time: an embed resolved, not an edit by the author
  'gateway-message-update-embed': [{ type: 'provider.unknown', data: { providerType: 'MESSAGE_UPDATE', digest: DIGEST, payload: (fixture('discord', 'gateway-message-update-embed') as { d: unknown }).d } }],
  'gateway-message-delete': [{ type: 'message.deleted', data: { providerMessageId: '1290600000000000002' }, ...inChannel, meta: { event: 'MESSAGE_DELETE' } }],
  'gateway-message-delete-bulk': [
    { type: 'message.deleted', data: { providerMessageId: '1290600000000000003' }, ...inChannel, meta: { event: 'MESSAGE_DELETE_BULK' } },
    { type: 'message.deleted', data: { providerMessageId: '1290600000000000004' }, ...inChannel },
  ],
  'gateway-reaction-add': [{ type: 'message.reaction', data: { providerMessageId: DIGEST, targetMessageId: '1290600000000000001', reaction: '🔥', fromSelf: false }, actor: BOB, ...inChannel }],
  'gateway-reaction-add-custom': [{ type: 'message.reaction', data: { providerMessageId: DIGEST, targetMessageId: '1290600000000000001', reaction: 'blobwave', fromSelf: false }, actor: BOB, ...inChannel, meta: { emoji: 'blobwave' } }],
  // as on WhatsApp, a reaction taken back is an empty one
  'gateway-reaction-remove': [{ type: 'message.reaction', data: { providerMessageId: DIGEST, targetMessageId: '1290600000000000001', reaction: '', fromSelf: false }, actor: BOB, ...inChannel, meta: { event: 'MESSAGE_REACTION_REMOVE', emoji: '🔥' } }],
  'gateway-poll-vote-add': [{ type: 'poll.voted', data: { providerMessageId: DIGEST, pollMessageId: '1290600000000000005', selectedOptions: ['2'], fromSelf: false }, actor: BOB, ...inChannel, meta: { answerId: 2 } }],
  // a presence has no time of its own: the delivery's
  'gateway-presence-update': [{ type: 'presence.updated', data: { conversationId: GUILD, participants: [{ participantId: BOB, presence: 'idle' }], observedAt: new Date(RECEIVED_AT).toISOString() }, actor: BOB, conversation: GUILD }],
  'gateway-typing-start': [{ type: 'presence.updated', data: { conversationId: CHANNEL, participants: [{ participantId: ALICE, presence: 'composing' }], observedAt: '2025-09-26T01:56:55.000Z' }, actor: ALICE, ...inChannel }],
  'gateway-guild-member-add': [{ type: 'group.participants', data: { groupId: GUILD, action: 'add', participants: [CAROL], digest: DIGEST }, conversation: GUILD, time: '2025-09-26T01:56:30.000Z' }],
  'gateway-guild-member-remove': [{ type: 'group.participants', data: { groupId: GUILD, action: 'remove', participants: [CAROL], digest: DIGEST }, conversation: GUILD }],
  'gateway-guild-create': [{ type: 'group.updated', data: { groupId: GUILD, change: 'created', subject: 'Omni Builders', description: 'Where we build Omni', size: 42, digest: DIGEST }, conversation: GUILD }],
  'gateway-channel-create': [{ type: 'chat.updated', data: { change: 'upsert', conversations: ['1290700000000000001'], digest: DIGEST }, conversation: '1290700000000000001', meta: { guildId: GUILD, name: 'support' } }],
  'gateway-voice-state-update': [{ type: 'provider.unknown', data: { providerType: 'VOICE_STATE_UPDATE', digest: DIGEST, payload: (fixture('discord', 'gateway-voice-state-update') as { d: unknown }).d } }],
}

function expectEvents(t: Test, events: readonly AdaptedEvent[], expected: readonly Expected[]): void {
  t.same(events.map((e) => e.type), expected.map((e) => e.type), 'catalog types')
  events.forEach((e, i) => {
    const x = expected[i]
    if (!x) return
    const data = { ...neutral(e) }
    for (const [k, v] of Object.entries(x.data)) if (v === DIGEST && typeof data[k] === 'string' && /^[A-Za-z0-9_-]{22}$/.test(data[k] as string)) data[k] = DIGEST
    t.same(data, x.data, `${e.type}: provider-neutral data`)
    t.equal(e.actor, x.actor, 'actor')
    t.equal(e.conversation, x.conversation, 'conversation')
    t.equal(e.time, x.time, 'time')
    t.match(providerMeta(e), { event: /^[A-Z_]+$/, ...x.meta }, 'data._provider')
  })
}

t.test('every fixture has its expectation (and every expectation its fixture)', async (t) => {
  const files = readdirSync(new URL('../fixtures/webhooks/discord/', import.meta.url)).map((f) => f.replace(/\.json$/, '')).sort()
  t.same(files, Object.keys(CASES).sort())
})

for (const [name, expected] of Object.entries(CASES)) {
  t.test(name, async (t) => {
    const events = adaptFixture(t, discordAdapter, catalog, 'discord', name, DISCORD_NAMES)
    expectEvents(t, events, expected)
  })
}

t.test('handshakes: an interaction PING is answered { type: 1 }, a webhook-event PING with a bare 204', async (t) => {
  t.same(discordAdapter.reply?.(delivery('discord', fixture('discord', 'interaction-ping'))), { status: 200, body: { type: 1 } })
  t.same(discordAdapter.reply?.(delivery('discord', fixture('discord', 'webhook-event-ping'))), { status: 204, body: undefined })
  for (const name of Object.keys(CASES).filter((n) => !n.endsWith('-ping'))) {
    t.equal(discordAdapter.reply?.(delivery('discord', fixture('discord', name))), undefined, `${name}: no handshake`)
  }
  t.equal(discordAdapter.reply?.(delivery('discord', 'PING')), undefined, 'a body that is no object: no handshake')
})

t.test('acknowledge(): commands and modals deferred, components acknowledged, autocomplete answered empty', async (t) => {
  const ack = (name: string) => discordAdapter.acknowledge?.(delivery('discord', fixture('discord', name)))
  t.same(ack('interaction-command'), { status: 200, body: { type: 5 } })
  t.same(ack('interaction-command-dm'), { status: 200, body: { type: 5 } })
  t.same(ack('interaction-modal-submit'), { status: 200, body: { type: 5 } })
  t.same(ack('interaction-button'), { status: 200, body: { type: 6 } })
  t.same(ack('interaction-select'), { status: 200, body: { type: 6 } })
  t.same(ack('interaction-autocomplete'), { status: 200, body: { type: 8, data: { choices: [] } } })
  for (const name of ['gateway-message-create-text', 'webhook-event-application-authorized', 'webhook-event-ping']) t.equal(ack(name), undefined, `${name}: the usual reply`)
})

t.test("the interaction token (a credential for 15 minutes) never reaches an event", async (t) => {
  for (const name of Object.keys(CASES).filter((n) => n.startsWith('interaction-'))) {
    const body = fixture('discord', name) as { token: string }
    t.notMatch(JSON.stringify(discordAdapter.normalize(delivery('discord', body))), body.token, name)
  }
})

t.test('a relayed dispatch without self_id marks nothing fromSelf', async (t) => {
  const { self_id: _self, ...body } = fixture('discord', 'gateway-message-create-from-self') as Record<string, unknown>
  t.equal(discordAdapter.normalize(delivery('discord', body))[0]?.data['fromSelf'], false)
})

t.test('INTERACTION_CREATE relayed through the gateway reads as the interaction itself', async (t) => {
  const interaction = fixture('discord', 'interaction-command')
  const viaGateway = discordAdapter.normalize(delivery('discord', { op: 0, t: 'INTERACTION_CREATE', s: 70, d: interaction }))
  t.same(viaGateway, discordAdapter.normalize(delivery('discord', interaction)))
})

t.test('malformed shapes: OMNI_ERR_WEBHOOK_INVALID with the JSON path of the problem', async (t) => {
  const cases: [string, unknown, string][] = [
    ['not an object', [1, 2], '$'],
    ['no known shape', { hello: 'world' }, '$'],
    ['a webhook event without its event', { version: 1, application_id: BOT, type: 1 }, '$.event.type'],
    ['a webhook event with an empty type', { version: 1, application_id: BOT, type: 1, event: { type: '', data: {} } }, '$.event.type'],
    ['a dispatch without d', { op: 0, t: 'MESSAGE_CREATE', s: 1, d: null }, '$.d'],
    ['MESSAGE_CREATE without id', { op: 0, t: 'MESSAGE_CREATE', s: 1, d: { content: 'hi', channel_id: CHANNEL } }, '$.d.id'],
    ['MESSAGE_UPDATE without id', { op: 0, t: 'MESSAGE_UPDATE', s: 1, d: { content: 'hi' } }, '$.d.id'],
    ['MESSAGE_DELETE without id', { op: 0, t: 'MESSAGE_DELETE', s: 1, d: { channel_id: CHANNEL } }, '$.d.id'],
    ['MESSAGE_DELETE_BULK with no ids', { op: 0, t: 'MESSAGE_DELETE_BULK', s: 1, d: { ids: [], channel_id: CHANNEL } }, '$.d.ids'],
    ['MESSAGE_DELETE_BULK with a bad id', { op: 0, t: 'MESSAGE_DELETE_BULK', s: 1, d: { ids: ['1', 2] } }, '$.d.ids'],
    ['a reaction without its message', { op: 0, t: 'MESSAGE_REACTION_ADD', s: 1, d: { user_id: BOB, emoji: { name: '🔥' } } }, '$.d.message_id'],
    ['a reaction without its user', { op: 0, t: 'MESSAGE_REACTION_ADD', s: 1, d: { message_id: '1', emoji: { name: '🔥' } } }, '$.d.user_id'],
    ['a poll vote without its user', { op: 0, t: 'MESSAGE_POLL_VOTE_ADD', s: 1, d: { message_id: '1', answer_id: 1 } }, '$.d.user_id'],
    ['PRESENCE_UPDATE without its user', { op: 0, t: 'PRESENCE_UPDATE', s: 1, d: { status: 'online', guild_id: GUILD } }, '$.d.user.id'],
    ['TYPING_START without its user', { op: 0, t: 'TYPING_START', s: 1, d: { channel_id: CHANNEL } }, '$.d.user_id'],
    ['GUILD_MEMBER_ADD without the guild', { op: 0, t: 'GUILD_MEMBER_ADD', s: 1, d: { user: { id: CAROL } } }, '$.d.guild_id'],
    ['GUILD_MEMBER_REMOVE without the user', { op: 0, t: 'GUILD_MEMBER_REMOVE', s: 1, d: { guild_id: GUILD } }, '$.d.user.id'],
    ['GUILD_CREATE without id', { op: 0, t: 'GUILD_CREATE', s: 1, d: { name: 'x' } }, '$.d.id'],
    ['CHANNEL_CREATE without id', { op: 0, t: 'CHANNEL_CREATE', s: 1, d: { name: 'x' } }, '$.d.id'],
  ]
  for (const [what, body, where] of cases) {
    const problems = invalidProblems(t, () => discordAdapter.normalize(delivery('discord', body)))
    t.same(problems.map((p) => p.where), [where], what)
  }
})
