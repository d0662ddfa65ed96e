import Type from 'typebox'
import { PROVIDER_META_KEY } from '../../envelope/schema.ts'
import { isOmniError, omniError } from '../../errors/mod.ts'
import { archiveRaw } from '../../ingest/raw-archive.ts'
import { verifyWebhook } from '../../webhooks/auth.ts'
import type { WebhookSource } from '../../webhooks/source.ts'
import type { AdaptedEvent } from '../../webhooks/types.ts'
import { hasScope } from '../auth.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { publishAll } from '../ingest.ts'
import { readWebhookBody } from '../webhook-body.ts'
import { prepareDelivery } from '../webhook-events.ts'

const Params = Type.Object({
  provider: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'the webhook source name' }),
  instance: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'the provider instance (a phone, a bot, a store)' }),
})

const Accepted = Type.Object({
  raw: Type.Object({ dataref: Type.String(), seq: Type.Integer(), duplicate: Type.Boolean({ description: 'the archive already held this exact delivery' }) }),
  events: Type.Array(Type.Ref('IngestResult')),
  refused: Type.Array(Type.Object({ type: Type.String(), problems: Type.Array(Type.Object({ where: Type.String(), message: Type.String() })) }), {
    description: 'adapted events the catalog refused; each was ingested as provider.unknown instead',
  }),
})

const providerType = (e: AdaptedEvent): string => {
  const meta = e.data[PROVIDER_META_KEY] as { event?: unknown } | undefined
  return typeof meta?.event === 'string' ? meta.event : e.type
}

/**
 * `POST /v1/webhooks/:provider/:instance`: authenticate, archive the raw body in JetStream,
 * then normalize through the source's adapter and publish with idempotency keys. The order is
 * what keeps every delivery: a body that cannot be normalized is still in the archive.
 */
export async function webhookRoutes(app: ApiApp, { deps, publisher }: RouteOptions): Promise<void> {
  // signatures cover the exact bytes, so the body stays a Buffer until it is verified
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  app.post(
    '/v1/webhooks/:provider/:instance',
    {
      config: { access: 'webhook' },
      schema: {
        summary: 'Receive a provider webhook',
        description:
          'The source (a `kind: WebhookSource` manifest) names the adapter (evolution, discord, generic) and how deliveries authenticate: its shared secret or signature, or else a bearer token with the ingest scope. ' +
          'The body is archived raw first, then normalized into catalog events with provider-neutral names; an event type the adapter does not know is ingested as provider.unknown. ' +
          'A provider retry archives once and publishes nothing new (same idempotency keys). 202 when something new was stored, 200 for a pure retry.',
        tags: ['ingest'],
        params: Params,
        body: Type.Unknown({ description: "the provider's JSON, exactly as it sends it" }),
        response: { 200: Type.Union([Accepted, Type.Unknown()]), 202: Accepted, '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { provider, instance } = request.params
      const source = deps.fabric.webhooks().find(provider, instance)
      if (!source) throw omniError('OMNI_ERR_WEBHOOK_UNKNOWN_SOURCE', `no webhook source "${provider}" accepts instance "${instance}"; declare one with kind: WebhookSource`)
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const read = readWebhookBody(rawBody, request.headers['content-type'])
      // a repeated header (an array) is no credential or signature any adapter reads
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(request.headers)) if (typeof v === 'string') headers[k] = v
      if (source.auth) verifyWebhook(source.auth, { headers, rawBody, body: read.value })
      else if (!hasScope(request.apiToken, 'ingest')) {
        throw omniError(request.apiToken ? 'OMNI_ERR_FORBIDDEN' : 'OMNI_ERR_UNAUTHORIZED', `webhook source "${provider}" declares no auth, so deliveries need a bearer token with the ingest scope`)
      }
      const raw = await archiveRaw(publisher, {
        provider,
        instance,
        tenant: source.tenant,
        contentType: request.headers['content-type'] ?? '',
        headers,
        body: rawBody,
        ...archiveSecrets(source, read.value),
      })
      // the client learns the body is kept: a fixed adapter can replay it from the archive
      const archived = `it is archived as ${raw.dataref}`
      if (read.refused) throw omniError('OMNI_ERR_WEBHOOK_INVALID', `${read.refused.reason}; ${archived}`, { problems: read.refused.problems, permanent: true })
      const delivery = { provider, instance, headers, body: read.value, receivedAt: Date.now() }
      const handshake = source.adapter.reply?.(delivery)
      if (handshake) return reply.status(handshake.status).send(handshake.body)
      let events: AdaptedEvent[]
      try {
        events = source.adapter.normalize(delivery)
      } catch (err) {
        if (!isOmniError(err) || err.code !== 'OMNI_ERR_WEBHOOK_INVALID') throw err
        throw omniError('OMNI_ERR_WEBHOOK_INVALID', `${err.message}; ${archived}`, { problems: [...err.problems], permanent: true, cause: err })
      }
      const { prepared, fallbacks } = prepareDelivery(deps.fabric.catalog(), events, { provider, instance, tenant: source.tenant, dataref: raw.dataref, providerType })
      const results = await publishAll(publisher, prepared)
      if (fallbacks.length > 0) request.log.warn({ reqId: request.id, provider, instance, refused: fallbacks }, 'adapted events refused by the catalog were ingested as provider.unknown')
      const ack = source.adapter.acknowledge?.(delivery)
      if (ack) return reply.status(ack.status).send(ack.body)
      const fresh = results.some((r) => !r.duplicate) || !raw.duplicate
      return reply.status(fresh ? 202 : 200).send({ raw: { dataref: raw.dataref, seq: raw.seq, duplicate: raw.duplicate }, events: results, refused: fallbacks })
    },
  )
}

/** What the archive must mask for this source: its credential header and the body's credential fields. */
function archiveSecrets(source: WebhookSource, body: unknown): { secretHeaders: string[]; secretValues: string[] } {
  const auth = source.auth
  const secretHeaders = auth && 'header' in auth ? [auth.header] : []
  const secretValues = auth && 'secret' in auth ? [auth.secret] : []
  if (typeof body === 'object' && body !== null) {
    for (const field of source.adapter.secretFields ?? []) {
      const v = (body as Record<string, unknown>)[field]
      if (typeof v === 'string') secretValues.push(v)
    }
  }
  return { secretHeaders, secretValues }
}
