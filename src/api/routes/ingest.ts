import Type from 'typebox'
import { BATCH_TYPE, readCloudEvents, STRUCTURED_TYPE } from '../cloudevents.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { tenantsOf } from '../tenants.ts'
import { bodyBytes, quotaCaller } from '../quota.ts'

/** One stored (or duplicate) event; shared by the ingest and webhook routes, so added at the root. */
export const IngestResult = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    subject: Type.String(),
    idempotencykey: Type.String(),
    seq: Type.Integer({ description: 'stream sequence (of the earlier copy, for a duplicate); resume the live stream from it' }),
    duplicate: Type.Boolean({ description: 'the stream already held an event with this idempotency key; nothing new was stored' }),
  },
  { $id: 'IngestResult' },
)

const BatchResult = Type.Object({
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  results: Type.Array(Type.Ref('IngestResult')),
})

/** `POST /v1/events`: CloudEvents in structured, binary or batch mode, durable in JetStream before the answer. */
export async function ingestRoutes(app: ApiApp, { quotas }: RouteOptions): Promise<void> {
  // the CloudEvents media types are JSON, parsed as strictly as application/json (no __proto__)
  app.addContentTypeParser([STRUCTURED_TYPE, BATCH_TYPE], { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))
  app.post(
    '/v1/events',
    {
      config: { access: 'ingest' },
      schema: {
        summary: 'Ingest CloudEvents',
        description:
          `Structured mode (${STRUCTURED_TYPE} or application/json with the event as the body), binary mode (ce-* headers, the body is data) or batch mode (${BATCH_TYPE}). ` +
          'Every event is checked against the envelope and the catalog first; one invalid event rejects the request and nothing is published. ' +
          'The answer comes once every event is durable in JetStream: 202 when something new was stored, 200 when all were duplicates. ' +
          'Each token has a quota of events and body bytes per window (429 OMNI_ERR_QUOTA_EXCEEDED with Retry-After); a full stream answers 507 OMNI_ERR_STREAM_FULL with Retry-After, and a batch cut by it says how many events were stored: send it again with the same ids.',
        tags: ['ingest'],
        security: [{ bearer: [] }],
        // validated by the envelope and the catalog, which report paths the way the client wrote them
        body: Type.Unknown({ description: 'a CloudEvent, its data (binary mode), or an array of CloudEvents' }),
        response: { 200: Type.Union([Type.Ref('IngestResult'), BatchResult]), 202: Type.Union([Type.Ref('IngestResult'), BatchResult]), '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const read = readCloudEvents(request.headers['content-type'], request.headers, request.body)
      // after the events are read and counted, before any is published
      quotas.charge(quotaCaller(request, `address ${request.ip}`), { events: read.inputs.length, bytes: bodyBytes(request, request.body) })
      const results = await app.node.ingest.events(read.inputs, { locate: read.locate, tenants: tenantsOf(request) })
      const duplicates = results.filter((r) => r.duplicate).length
      reply.status(duplicates === results.length ? 200 : 202)
      if (read.mode !== 'batch') return results[0]
      return { accepted: results.length - duplicates, duplicates, results }
    },
  )
}
