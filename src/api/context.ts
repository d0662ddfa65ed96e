import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { Fabric } from '../node/fabric.ts'
import type { AckPublisher } from '../jetstream/publisher-types.ts'
import type { ApiConfig } from './options.ts'

/** What the routes work on: the running fabric and where its manifests live. */
export interface ApiDeps {
  readonly fabric: Fabric
  /** the manifests folder: pipelines applied through the API are written under `<manifests>/pipelines/` */
  readonly manifests: string
  /** false: register no gauges in the process-wide metrics registry (a build that only describes itself) */
  readonly gauges?: boolean
}

/** A Fastify instance typed with the TypeBox provider, as every route plugin gets it. */
export type ApiApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>

/** Options every route plugin receives. */
export interface RouteOptions {
  readonly deps: ApiDeps
  readonly config: ApiConfig
  /** the fabric's publisher, with the publishes of one event-loop turn sent in one write */
  readonly publisher: AckPublisher
}
