// The hand-written ingest route, the denominator of the API's ingest rows (issue 15): what a user
// would write instead of adopting Omni, with the same libraries. Fastify built with the API's own
// server options, one POST route that publishes the body with the public nats.js JetStream client
// (msgID = the CloudEvent's id), waits for the PubAck and answers 202. Nothing else: no token, no
// rate limiter, no envelope or catalog check, no idempotency key of its own.
import { jetstream } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import Fastify from 'fastify'
import { API_DEFAULTS } from '../../src/api/options.ts'
import { serverOptions } from '../../src/api/server.ts'
import { silentLogger } from '../../src/observability/logger.ts'
import type { HttpTarget } from './http-servers.ts'

/** Where the hand-written route listens; the bench posts the same CloudEvent bodies as to /v1/events. */
export const HAND_PATH = '/events'

/**
 * The nats.js connection options the route uses. `noAsyncTraces` is the client's documented
 * switch for publish-heavy code (it skips building an Error per request for its stack): an
 * expert writing a throughput-bound route sets it, so the denominator is not handicapped.
 */
export const HAND_CLIENT_OPTIONS = { name: 'bench-hand-ingest', noAsyncTraces: true } as const

export interface HandIngestOptions {
  readonly natsUrl: string
  /** the subject every request is published to (the bench type's, in the events stream) */
  readonly subject: string
}

/** The parts of a posted CloudEvent the route reads; the rest passes through untouched. */
interface PostedEvent {
  readonly id?: unknown
}

/**
 * Starts the hand-written route on a free local port, with its own NATS connection, in the
 * calling process: the bench runs the API the same way, so both rows share one arrangement.
 */
export async function startHandIngestServer(opts: HandIngestOptions): Promise<HttpTarget> {
  const nc = await connect({ servers: opts.natsUrl, ...HAND_CLIENT_OPTIONS })
  const js = jetstream(nc)
  const app = Fastify(serverOptions(silentLogger(), API_DEFAULTS.bodyLimit))
  app.post<{ Body: PostedEvent | null }>(HAND_PATH, async (request, reply) => {
    const id = request.body?.id
    // the one check a minimal route needs: without an id there is no msgID to dedup by
    if (typeof id !== 'string' || id === '') return reply.code(400).send({ error: 'the body must be a JSON object with a non-empty string "id"' })
    const ack = await js.publish(opts.subject, JSON.stringify(request.body), { msgID: id })
    return reply.code(202).send({ seq: ack.seq, duplicate: ack.duplicate })
  })
  // the server before the connection its requests publish on
  const close = async (): Promise<void> => {
    await app.close()
    await nc.close()
  }
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    return { url, close }
  } catch (err) {
    await close()
    throw err
  }
}
