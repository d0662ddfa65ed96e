import Type, { type Static } from 'typebox'
import { DURATION_PATTERN } from '../util/duration.ts'
import { SOURCE_PATTERN } from '../wire/mod.ts'
import { MeshSourceSchema } from './mesh-source.ts'

const Duration = Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Integer({ minimum: 0 })], {
  description: "a duration: milliseconds as a number, or a string such as '500ms', '2s', '1m'",
})

/** How a stage failure is handled: retry the whole event, skip the stage, or dead-letter now. */
export const ON_ERROR = ['retry', 'skip', 'dead-letter'] as const
export type OnError = (typeof ON_ERROR)[number]

export const StageSpecSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9_-]*$', maxLength: 64 }),
    uses: Type.String({ minLength: 1 }),
    needs: Type.Optional(Type.Array(Type.String())),
    when: Type.Optional(Type.String({ minLength: 1 })),
    with: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    onError: Type.Optional(Type.Union([Type.Literal('retry'), Type.Literal('skip'), Type.Literal('dead-letter')])),
    timeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
)

/**
 * A stage-like transform applied to one output or fan-out target (e.g. transform.redact); the
 * catalog's fan-out targets use it too.
 */
export const TargetTransformSchema = Type.Object(
  {
    uses: Type.String({ minLength: 1 }),
    with: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
)

export const OutputSpecSchema = Type.Object(
  {
    /** a subject, or omit it and set `fanout: catalog` to use the event type's fan-out rules */
    subject: Type.Optional(Type.String({ minLength: 1 })),
    fanout: Type.Optional(Type.Literal('catalog')),
    when: Type.Optional(Type.String({ minLength: 1 })),
    transform: Type.Optional(Type.Array(TargetTransformSchema)),
  },
  { additionalProperties: false },
)

/** A pipeline name; also what keeps the API's pipeline file names inside the manifests folder. */
export const PIPELINE_NAME_PATTERN = '^[a-z][a-z0-9_-]*$'
export const PIPELINE_NAME_MAX_LENGTH = 64

export const PipelineManifestSchema = Type.Object(
  {
    kind: Type.Literal('Pipeline'),
    name: Type.String({ pattern: PIPELINE_NAME_PATTERN, maxLength: PIPELINE_NAME_MAX_LENGTH }),
    description: Type.Optional(Type.String()),
    // a subject, or a mesh source on events received from other nodes (src/pipeline/mesh-source.ts)
    sources: Type.Array(Type.Union([Type.String({ pattern: SOURCE_PATTERN }), MeshSourceSchema]), { minItems: 1 }),
    errorPolicy: Type.Optional(
      Type.Object(
        {
          maxDeliveries: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          backoff: Type.Optional(Type.Array(Duration, { minItems: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    stages: Type.Array(StageSpecSchema),
    outputs: Type.Optional(Type.Array(OutputSpecSchema)),
  },
  { additionalProperties: false },
)

export type PipelineManifest = Static<typeof PipelineManifestSchema>
export type StageSpec = Static<typeof StageSpecSchema>
export type OutputSpec = Static<typeof OutputSpecSchema>
export type TargetTransform = Static<typeof TargetTransformSchema>
export const DEFAULT_STAGE_TIMEOUT_MS = 5000
