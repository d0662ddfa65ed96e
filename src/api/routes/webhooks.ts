import Type from 'typebox'
import { hasScope } from '../auth.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { tenantsOf } from '../tenants.ts'
import { quotaCaller, type QuotaCost } from '../quota.ts'

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

/**
 * `POST /v1/webhooks/:provider/:instance`: authenticate, archive the raw body in JetStream,
 * then normalize through the source's adapter and publish with idempotency keys. The order is
 * what keeps every delivery: a body that cannot be normalized is still in the archive.
 */
export async function webhookRoutes(app: ApiApp, { quotas }: RouteOptions): Promise<void> {
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
      // a repeated header (an array) is no credential or signature any adapter reads
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(request.headers)) if (typeof v === 'string') headers[k] = v
      const token = hasScope(request.apiToken, 'ingest') ? 'granted' : request.apiToken ? 'refused' : 'missing'
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      // charged once the delivery is authenticated, to its token or else to the source instance
      const caller = quotaCaller(request, `webhook ${provider}/${instance}`)
      const admit = (cost: QuotaCost) => quotas.charge(caller, cost)
      const answer = await app.node.ingest.webhook({ provider, instance, headers, contentType: request.headers['content-type'], body, token, tenants: tenantsOf(request), admit })
      if (answer.type === 'reply') return reply.status(answer.status).send(answer.body)
      if (answer.refused.length > 0) request.log.warn({ reqId: request.id, provider, instance, refused: answer.refused }, 'adapted events refused by the catalog were ingested as provider.unknown')
      return reply.status(answer.status).send({ raw: answer.raw, events: answer.events, refused: answer.refused })
    },
  )
}
