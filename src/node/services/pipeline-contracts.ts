import Type, { type Static } from 'typebox'

// the pipeline service's answers, as TypeBox schemas: the API describes and checks with them and
// the service is typed by them

const SummaryProperties = {
  name: Type.String(),
  description: Type.String(),
  file: Type.String({ description: 'the manifest it was loaded from, relative to the manifests folder when inside it' }),
  fingerprint: Type.String({ description: 'hash of the manifest content: changes when the pipeline does' }),
  sources: Type.Array(Type.String()),
  stages: Type.Array(
    Type.Object({
      id: Type.String(),
      uses: Type.String(),
      needs: Type.Array(Type.String()),
      level: Type.Integer({ description: 'position in execution order; stages of one level run concurrently' }),
      conditional: Type.Boolean({ description: 'has a `when`' }),
      onError: Type.String(),
      timeoutMs: Type.Integer(),
      additive: Type.Boolean({ description: 'an alpha/community plugin: never blocks the event' }),
    }),
  ),
  outputs: Type.Array(
    Type.Object({
      subject: Type.Optional(Type.String()),
      fanout: Type.Optional(Type.Literal('catalog')),
      conditional: Type.Boolean(),
      transforms: Type.Integer({ description: 'how many transforms shape it' }),
    }),
  ),
  errorPolicy: Type.Object({ maxDeliveries: Type.Integer(), backoffMs: Type.Array(Type.Integer()) }),
  worker: Type.Optional(
    Type.Object({
      state: Type.String({ description: 'starting | running | draining | stopped | failed' }),
      acked: Type.Integer(),
      dropped: Type.Integer(),
      retried: Type.Integer(),
      deadLettered: Type.Integer(),
      inFlight: Type.Integer(),
    }),
  ),
}

export const PipelineSummary = Type.Object(SummaryProperties, { $id: 'PipelineSummary' })

export const PipelineDetail = Type.Object({
  ...SummaryProperties,
  yaml: Type.Optional(Type.String({ description: 'the manifest file as it is on disk' })),
  yamlMatchesRunning: Type.Optional(Type.Boolean({ description: 'false when the file changed since it was loaded (a reload has not picked it up yet)' })),
})

export const Applied = Type.Object({
  file: Type.String({ description: 'the file written or removed, relative to the manifests folder' }),
  added: Type.Array(Type.String()),
  changed: Type.Array(Type.String()),
  removed: Type.Array(Type.String()),
})

export type PipelineView = Static<typeof PipelineSummary>
export type PipelineDetailView = Static<typeof PipelineDetail>
