import type { FastifyError, FastifyInstance } from 'fastify'
import Type from 'typebox'
import { ERROR_CODES, isOmniError, omniError, type OmniError, type OmniErrorCode, type Problem } from '../errors/mod.ts'
import { fieldPath } from '../yaml/check.ts'
import { schemaIssues, type ValidatorError } from '../util/schema-errors.ts'

/** The one shape every error response has, with a stable code from the registry. */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'a stable OMNI_ERR_* code (see the README)' }),
      message: Type.String(),
      status: Type.Integer(),
      problems: Type.Array(Type.Object({ where: Type.String(), message: Type.String() })),
    }),
  },
  { $id: 'ErrorResponse', description: 'every error, whatever the route' },
)

export interface ErrorBody {
  error: { code: OmniErrorCode; message: string; status: number; problems: Problem[] }
}

export function errorBody(err: OmniError): ErrorBody {
  return { error: { code: err.code, message: err.message, status: err.status, problems: [...err.problems] } }
}

/** Where each request part's problems are reported from: `$` is the body. */
const PART_ROOT: Record<string, string> = { body: '$', querystring: 'query', params: 'params', headers: 'headers' }

/** Fastify's own errors, mapped to registry codes. */
const FASTIFY_CODES: Record<string, OmniErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'OMNI_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'OMNI_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'OMNI_ERR_BODY_INVALID',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'OMNI_ERR_BODY_INVALID',
  FST_ERR_CTP_INVALID_JSON_BODY: 'OMNI_ERR_BODY_INVALID',
}

/** Turns anything a handler or hook threw into an OmniError; `undefined` for unexpected errors. */
export function asOmniError(err: unknown): OmniError | undefined {
  if (isOmniError(err)) return err
  const e = err as FastifyError & { validation?: ValidatorError[]; validationContext?: string }
  if (Array.isArray(e.validation)) {
    const root = PART_ROOT[e.validationContext ?? 'body'] ?? '$'
    const problems = schemaIssues(e.validation).map((i) => ({ where: joinPath(root, fieldPath(i.path)), message: i.message }))
    return omniError('OMNI_ERR_BODY_INVALID', `the request ${e.validationContext ?? 'body'} breaks the route's schema`, { problems })
  }
  const code = e.code ? FASTIFY_CODES[e.code] : undefined
  if (code) return omniError(code, e.message)
  // a JSON body with __proto__ or constructor.prototype is refused by the parser as a SyntaxError
  if (e instanceof SyntaxError && e.statusCode === 400) return omniError('OMNI_ERR_BODY_INVALID', `the body is not valid JSON: ${e.message}`)
  // any other client error Fastify or a plugin raises (an aborted body, a bad header) is the
  // client's doing: a 4xx in the one shape, not an internal error in the log
  const status = e.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) return omniError(STATUS_CODES[status] ?? 'OMNI_ERR_BODY_INVALID', e.message)
  return undefined
}

/** The registry code for a client error status that has no code of its own above. */
const STATUS_CODES: Record<number, OmniErrorCode> = {
  401: 'OMNI_ERR_UNAUTHORIZED',
  403: 'OMNI_ERR_FORBIDDEN',
  404: 'OMNI_ERR_NOT_FOUND',
  413: 'OMNI_ERR_BODY_TOO_LARGE',
  415: 'OMNI_ERR_UNSUPPORTED_MEDIA_TYPE',
  429: 'OMNI_ERR_RATE_LIMITED',
}

function joinPath(root: string, field: string): string {
  if (field === '') return root
  return field.startsWith('[') ? `${root}${field}` : `${root}.${field}`
}

/** Installs the error and not-found handlers, so every failure answers with ErrorResponse. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const known = asOmniError(err)
    if (known) {
      if (known.status >= 500) request.log.error({ err, reqId: request.id }, known.message)
      if (known.retryAfterS !== undefined) reply.header('retry-after', String(known.retryAfterS))
      return reply.status(known.status).send(errorBody(known))
    }
    // unexpected: the log gets the details, the client a code and the request id to quote
    request.log.error({ err, reqId: request.id }, 'unexpected error')
    const status = ERROR_CODES.OMNI_ERR_INTERNAL.status
    return reply.status(status).send(errorBody(omniError('OMNI_ERR_INTERNAL', `unexpected error (request ${request.id})`)))
  })
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody(omniError('OMNI_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)))
  })
}
