import Type from 'typebox'
import { PIPELINE_NAME_MAX_LENGTH, PIPELINE_NAME_PATTERN } from '../../pipeline/spec.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { PipelineContracts } from '../../node/mod.ts'

const { Applied, PipelineDetail, PipelineSummary } = PipelineContracts

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml']
const BODY_TYPES = [...YAML_TYPES, 'application/json']

const Problem = Type.Object({ where: Type.String({ description: 'body:line:col in the submitted document, or file:line:col of another manifest' }), message: Type.String() })

const NameParam = Type.Object({ name: Type.String({ pattern: PIPELINE_NAME_PATTERN, maxLength: PIPELINE_NAME_MAX_LENGTH }) })

const DocumentBody = Type.String({ description: 'a `kind: Pipeline` manifest as YAML (application/yaml, text/yaml) or JSON (application/json)' })

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

/** `GET/PUT/DELETE /v1/pipelines/:name`, `GET /v1/pipelines`, `POST /v1/pipelines/validate`. */
export async function pipelineRoutes(app: ApiApp, _opts: RouteOptions): Promise<void> {
  // scoped to this plugin: pipeline documents stay text, so problems can point at line:col
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(BODY_TYPES, { parseAs: 'string' }, (_request, body, done) => done(null, body))

  app.get(
    '/v1/pipelines',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List the loaded pipelines',
        description: 'Each with its sources, stages (uses, needs, level), outputs, the file it came from and its worker state.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ pipelines: Type.Array(PipelineSummary) }), ...errors },
      },
    },
    async () => ({ pipelines: app.node.pipelines.list() }),
  )

  app.get(
    '/v1/pipelines/:name',
    {
      config: { access: 'read' },
      schema: {
        summary: 'One loaded pipeline',
        description: 'The summary plus the manifest file as it is on disk.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        params: NameParam,
        response: { 200: PipelineDetail, ...errors },
      },
    },
    async (request) => app.node.pipelines.get(request.params.name),
  )

  app.post(
    '/v1/pipelines/validate',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Validate a pipeline without applying it',
        description:
          'The same checks as `omni validate` (schema, cartridges, `with`, needs, cycles, CEL, outputs, duplicate names) against the manifests in place, with the document standing in for the pipeline of the same name. ' +
          'Problems in the document are located as body:line:col.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        consumes: BODY_TYPES,
        body: DocumentBody,
        response: { 200: Type.Object({ ok: Type.Boolean(), problems: Type.Array(Problem) }), ...errors },
      },
    },
    async (request) => app.node.pipelines.validate(request.body, request.headers['content-type']),
  )

  app.put(
    '/v1/pipelines/:name',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Create or replace a pipeline',
        description:
          'Validates like /v1/pipelines/validate (400 OMNI_ERR_MANIFEST with every problem), writes the document atomically to the file the pipeline is loaded from (a new one to `pipelines/<name>.yaml` in the manifests folder) and reloads. ' +
          'Takes effect without a restart: events in flight finish on the old version, consumers keep their position, nothing is lost or processed twice. A refused reload puts the previous file back.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        consumes: BODY_TYPES,
        params: NameParam,
        body: DocumentBody,
        response: { 200: Applied, ...errors },
      },
    },
    async (request) => app.node.pipelines.apply(request.params.name, request.body, request.headers['content-type']),
  )

  app.delete(
    '/v1/pipelines/:name',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Remove a pipeline',
        description:
          'Removes its manifest file and reloads: the worker drains and its durable consumer is kept, so putting the pipeline back resumes where it was. ' +
          'Refused (409) when the file is outside the manifests folder or holds anything else.',
        tags: ['manage'],
        security: [{ bearer: [] }],
        params: NameParam,
        response: { 200: Applied, ...errors },
      },
    },
    async (request) => app.node.pipelines.remove(request.params.name),
  )
}
