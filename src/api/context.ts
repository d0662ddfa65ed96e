import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { OmniNode } from '../node/mod.ts'
import type { ApiConfig } from './options.ts'
import type { Quotas } from './quota.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** the node the API serves: routes call its services, nothing else */
    readonly node: OmniNode
  }
}

/** A Fastify instance typed with the TypeBox provider, as every route plugin gets it. */
export type ApiApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>

/** Options every route plugin receives. */
export interface RouteOptions {
  readonly config: ApiConfig
  /** events and bytes per token, charged by the ingest routes */
  readonly quotas: Quotas
}
