// CloudEvents 1.0 over HTTP (the HTTP protocol binding): structured mode (the event is the JSON
// body), binary mode (attributes in ce-* headers, the body is `data`) and batch mode (a JSON
// array of structured events). This file only reads requests into envelope inputs; validation
// against the envelope and the catalog happens in prepareEvent, and its JSON paths are mapped
// back to where the client put each value.
import { omniError, type Problem } from '../errors/mod.ts'

export const STRUCTURED_TYPE = 'application/cloudevents+json'
export const BATCH_TYPE = 'application/cloudevents-batch+json'

export type IngestMode = 'structured' | 'binary' | 'batch'

export interface CloudEventsRequest {
  readonly mode: IngestMode
  /** one input per event, as the client sent it (not yet validated) */
  readonly inputs: readonly Record<string, unknown>[]
  /** maps a problem's path in an input (`$.data.kind`) to where the client wrote it */
  readonly locate: (index: number, where: string) => string
}

/** Attributes every CloudEvent must carry (CloudEvents 1.0, "REQUIRED Attributes"). */
const REQUIRED = ['specversion', 'id', 'source', 'type'] as const

/** The media type without parameters, in lower case. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/** Reads the events of one request; throws OMNI_ERR_EVENT_INVALID when its shape is wrong. */
export function readCloudEvents(contentType: string | undefined, headers: Readonly<Record<string, string | string[] | undefined>>, body: unknown): CloudEventsRequest {
  const type = mediaType(contentType)
  if (type !== 'application/json' && type !== STRUCTURED_TYPE && type !== BATCH_TYPE) {
    throw omniError('OMNI_ERR_UNSUPPORTED_MEDIA_TYPE', `events are sent as application/json, ${STRUCTURED_TYPE} or ${BATCH_TYPE}, not ${type || 'a body without a content type'}`)
  }
  if (type === BATCH_TYPE) {
    if (!Array.isArray(body)) throw invalid('a batch must be a JSON array of events', [{ where: '$', message: 'must be an array' }])
    if (body.length === 0) throw invalid('a batch must hold at least one event', [{ where: '$', message: 'must not be empty' }])
    const problems: Problem[] = []
    body.forEach((e, i) => problems.push(...structuredProblems(e, `$[${i}]`)))
    if (problems.length > 0) throw invalid('invalid events in the batch', problems)
    return { mode: 'batch', inputs: body as Record<string, unknown>[], locate: (i, where) => where.replace(/^\$/, `$[${i}]`) }
  }
  if (headers['ce-specversion'] !== undefined) return readBinary(headers, body)
  // a JSON body without ce-* headers is taken as a structured event, which is what most clients send
  const problems = structuredProblems(body, '$')
  if (problems.length > 0) throw invalid('invalid event', problems)
  return { mode: 'structured', inputs: [body as Record<string, unknown>], locate: (_i, where) => where }
}

function structuredProblems(e: unknown, at: string): Problem[] {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return [{ where: at, message: 'must be a CloudEvent (a JSON object)' }]
  const ev = e as Record<string, unknown>
  return REQUIRED.filter((k) => ev[k] === undefined).map((k) => ({ where: `${at}.${k}`, message: 'is required' }))
}

function readBinary(headers: Readonly<Record<string, string | string[] | undefined>>, body: unknown): CloudEventsRequest {
  const input: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || value === undefined) continue
    // a repeated header arrives as an array: ambiguous, so refused below by its type
    input[name.slice(3)] = value
  }
  const problems: Problem[] = REQUIRED.filter((k) => input[k] === undefined).map((k) => ({ where: `headers.ce-${k}`, message: 'is required' }))
  if (typeof body !== 'object' || body === null || Array.isArray(body)) problems.push({ where: '$', message: 'the body is the event data and must be a JSON object' })
  if (problems.length > 0) throw invalid('invalid binary-mode event', problems)
  input['data'] = body
  input['datacontenttype'] = 'application/json'
  return {
    mode: 'binary',
    inputs: [input],
    locate: (_i, where) => {
      if (where === '$.data' || where.startsWith('$.data.') || where.startsWith('$.data[')) return `$${where.slice('$.data'.length)}`
      const attr = /^\$\.([^.[]+)(.*)$/.exec(where)
      return attr ? `headers.ce-${attr[1]}${attr[2]}` : where
    },
  }
}

function invalid(message: string, problems: Problem[]) {
  return omniError('OMNI_ERR_EVENT_INVALID', message, { problems, permanent: true })
}
