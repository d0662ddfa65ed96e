import Type from 'typebox'
import { omniError, type Problem } from '../../errors/mod.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { LIVE_FILTER_RE, LIVE_SUBJECTS } from '../../wire/mod.ts'
import { writeEventStream } from '../sse.ts'
import { tenantsOf } from '../tenants.ts'

const StreamQuery = Type.Object(
  {
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'comma-separated catalog event types' })),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'comma-separated subject filters under omni.evt / omni.cmd (wildcards * and >)' })),
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    instance: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'replay from the event after this stream sequence (Last-Event-ID wins when both are given)' })),
  },
  { additionalProperties: false },
)

/** `GET /v1/stream`: the live stream as Server-Sent Events, resumable from Last-Event-ID. */
export async function streamRoutes(app: ApiApp, { config }: RouteOptions): Promise<void> {
  /** every stream from the request to its end, opening ones too, with what ends it */
  const live = new Map<AbortController, Promise<void>>()
  const perToken = new Map<string, number>()
  // before the server waits for connections to end: an open stream would otherwise hold close()
  app.addHook('preClose', async () => {
    for (const controller of live.keys()) controller.abort()
    await Promise.all(live.values())
  })
  app.get(
    '/v1/stream',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Live events as Server-Sent Events',
        description:
          'Each event is sent with `id:` its stream sequence, `event:` its type and `data:` the envelope. A reconnect with `Last-Event-ID` (EventSource does this by itself) replays exactly the events after it, straight from JetStream. ' +
          `A comment line is sent every ${config.heartbeatMs / 1000} s so proxies keep the connection open. A token may hold ${config.streamsPerToken} streams at once; one more is a 429.`,
        tags: ['read'],
        security: [{ bearer: [] }],
        querystring: StreamQuery,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
        response: { 200: Type.String({ description: 'text/event-stream' }), '4xx': ErrorResponse, '5xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const q = request.query
      const subjects = subjectsFor(q.type, q.subject, (t) => app.node.catalog.current().get(t)?.subject)
      const lastId = request.headers['last-event-id']
      const after = lastId !== undefined ? Number(lastId) : q.after
      // a read route always has a token (see installAuth)
      const holder = request.apiToken?.name ?? request.ip
      const held = perToken.get(holder) ?? 0
      if (held >= config.streamsPerToken) throw omniError('OMNI_ERR_RATE_LIMITED', `a token may hold at most ${config.streamsPerToken} streams at once; close one first`)
      perToken.set(holder, held + 1)
      const controller = new AbortController()
      const ended = Promise.withResolvers<void>()
      live.set(controller, ended.promise)
      const release = () => {
        live.delete(controller)
        const left = (perToken.get(holder) ?? 1) - 1
        if (left > 0) perToken.set(holder, left)
        else perToken.delete(holder)
        ended.resolve()
      }
      // listening before the consumer is created: the client may go while it is
      const gone = () => controller.abort()
      reply.raw.once('close', gone)
      if (request.raw.socket?.destroyed) gone()
      const begin = () => {
        reply.hijack()
        // hijacking skips Fastify's send: headers the hooks set (CORS, rate limit) go out here
        const hooked = Object.entries(reply.getHeaders()).filter(([, v]) => v !== undefined)
        reply.raw.writeHead(200, {
          ...Object.fromEntries(hooked),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          // proxies such as nginx would otherwise buffer the stream
          'x-accel-buffering': 'no',
        })
        return reply.raw
      }
      const filter = { subjects, tenants: tenantsOf(request), ...(q.tenant ? { tenant: q.tenant } : {}), ...(q.instance ? { instance: q.instance } : {}), ...(after !== undefined ? { from: { after } } : {}) }
      const events = await app.node.events.follow(filter).catch((cause: unknown) => {
        release()
        const why = cause instanceof Error ? cause.message : String(cause)
        // overlapping filters (omni.evt.> beside one of its subjects) are the caller's to fix
        if (/overlap/i.test(why)) throw omniError('OMNI_ERR_BODY_INVALID', `the stream filters overlap (${subjects.join(', ')}); give filters that do not`, { cause, problems: [{ where: 'query', message: why }] })
        throw omniError('OMNI_ERR_NATS_UNAVAILABLE', `cannot open the stream: ${why}`, { cause })
      })
      const stream = writeEventStream(events, begin, config.heartbeatMs, controller.signal)
      void stream.closed().then(release)
    },
  )
}

/** The subjects to read: those of the types asked for, the filters asked for, or everything. */
function subjectsFor(types: string | undefined, subjects: string | undefined, subjectOf: (type: string) => string | undefined): string[] {
  const problems: Problem[] = []
  const out = new Set<string>()
  for (const t of split(types)) {
    const s = subjectOf(t)
    if (s) out.add(s)
    else problems.push({ where: 'query.type', message: `"${t}" is not a catalog event type` })
  }
  for (const s of split(subjects)) {
    if (LIVE_FILTER_RE.test(s)) out.add(s)
    else problems.push({ where: 'query.subject', message: `"${s}" is not a subject filter under omni.evt or omni.cmd` })
  }
  if (problems.length > 0) throw omniError('OMNI_ERR_BODY_INVALID', 'invalid stream filter', { problems })
  // by default: events and commands, not redrive copies
  return [...(out.size > 0 ? out : LIVE_SUBJECTS)]
}

function split(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}
