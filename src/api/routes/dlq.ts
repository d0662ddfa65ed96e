import Type from 'typebox'
import { deadLetterBody, type DeadLetter } from '../../node/mod.ts'
import { PIPELINE_NAME_MAX_LENGTH, PIPELINE_NAME_PATTERN } from '../../pipeline/spec.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { tenantsOf } from '../tenants.ts'

/** Listing reads dead letters one by one; a page keeps an answer quick. */
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

const Text = Type.String({ minLength: 1, maxLength: 1024 })

/** The filters of `omni dlq list|redrive`. */
const filterProperties = {
  pipeline: Type.Optional(Type.String({ pattern: PIPELINE_NAME_PATTERN, maxLength: PIPELINE_NAME_MAX_LENGTH })),
  stage: Type.Optional(Text),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'the event type' })),
  error: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'a substring of the error message' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, description: `at most this many, oldest first (default ${DEFAULT_LIMIT})` })),
}

const DeadLetterSummary = Type.Object(
  {
    seq: Type.Integer({ description: 'its sequence in the OMNI_DLQ stream: GET /v1/dlq/:seq' }),
    pipeline: Type.String(),
    stage: Type.String({ description: 'the stage that failed (`decode` for an event that is not a valid envelope)' }),
    error: Type.String(),
    attempts: Type.Integer(),
    originalSubject: Type.String(),
    originalSeq: Type.Integer({ description: 'its sequence in OMNI_EVENTS when it first failed' }),
    failedAt: Type.String(),
    type: Type.Optional(Type.String({ description: 'the event type, when the body is a readable envelope' })),
    tenant: Type.Optional(Type.String({ description: "the event's tenant, when the body is a readable envelope" })),
  },
  { $id: 'DeadLetterSummary' },
)

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

/** `GET /v1/dlq`, `GET /v1/dlq/:seq` and `POST /v1/dlq/redrive`, over the node's dead-letter service, as `omni dlq`. */
export async function dlqRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  app.addSchema(DeadLetterSummary)

  app.get(
    '/v1/dlq',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List dead letters',
        description: 'Oldest first, with the pipeline, stage, error, attempts and where each came from. Listing changes nothing.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        querystring: Type.Object(filterProperties, { additionalProperties: false }),
        response: { 200: Type.Object({ deadLetters: Type.Array(Type.Ref('DeadLetterSummary')) }), ...errors },
      },
    },
    async (request) => {
      const letters = await app.node.deadLetters.list({ limit: DEFAULT_LIMIT, ...request.query, tenants: tenantsOf(request) })
      return { deadLetters: letters.map(summary) }
    },
  )

  app.get(
    '/v1/dlq/:seq',
    {
      config: { access: 'read' },
      schema: {
        summary: 'One dead letter with its event',
        description: 'Its failure metadata and the event as it was stored (a string when the body is not JSON). 404 once redriven.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        params: Type.Object({ seq: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Object({ deadLetter: Type.Ref('DeadLetterSummary'), event: Type.Unknown() }), ...errors },
      },
    },
    async (request) => {
      const letter = await app.node.deadLetters.get(request.params.seq, tenantsOf(request))
      return { deadLetter: summary(letter), event: deadLetterBody(letter.data) }
    },
  )

  app.post(
    '/v1/dlq/redrive',
    {
      // the service redrives only dead letters of the token's tenants
      config: { access: 'admin', tenantScoped: true },
      schema: {
        summary: 'Redrive dead letters to their own pipeline',
        description:
          'Sends the matching dead letters (oldest first) back to the pipeline each failed in and removes them from the DLQ; with `dryRun` only answers which would go. ' +
          'Safe to repeat: a dead letter is redriven at most once. Refused (409, nothing redriven) when a matching dead letter belongs to a pipeline that no longer runs.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        body: Type.Object({ ...filterProperties, dryRun: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            dryRun: Type.Boolean(),
            matched: Type.Integer({ description: 'dead letters that matched the filters' }),
            redriven: Type.Integer({ description: 'sent back now (0 on a dry run)' }),
            duplicates: Type.Integer({ description: 'already sent back by an earlier, interrupted redrive' }),
            deadLetters: Type.Array(Type.Ref('DeadLetterSummary'), { description: 'the matched dead letters' }),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { dryRun = false, ...filter } = request.body
      const r = await app.node.deadLetters.redrive({ ...filter, tenants: tenantsOf(request) }, { dryRun })
      return { dryRun: r.dryRun, matched: r.letters.length, deadLetters: r.letters.map(summary), redriven: r.redriven, duplicates: r.duplicates }
    },
  )
}

function summary({ data: _data, ...rest }: DeadLetter) {
  return rest
}
