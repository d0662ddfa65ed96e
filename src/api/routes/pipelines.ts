import { readFile } from 'node:fs/promises'
import Type from 'typebox'
import { stableHash } from '../../envelope/derive.ts'
import { omniError } from '../../errors/mod.ts'
import { parseYamlManifest } from '../../yaml/yaml.ts'
import type { CompiledPipeline } from '../../pipeline/compile.ts'
import { PIPELINE_NAME_MAX_LENGTH, PIPELINE_NAME_PATTERN } from '../../pipeline/spec.ts'
import type { PipelineWorker } from '../../pipeline/worker.ts'
import type { ApiApp, RouteOptions } from '../context.ts'
import { ErrorResponse } from '../errors.ts'
import { createPipelineStore, type PipelineStore } from '../pipeline-store.ts'

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml']
const BODY_TYPES = [...YAML_TYPES, 'application/json']

const Problem = Type.Object({ where: Type.String({ description: 'body:line:col in the submitted document, or file:line:col of another manifest' }), message: Type.String() })

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

const PipelineSummary = Type.Object(SummaryProperties, { $id: 'PipelineSummary' })

const PipelineDetail = Type.Object({
  ...SummaryProperties,
  yaml: Type.Optional(Type.String({ description: 'the manifest file as it is on disk' })),
  yamlMatchesRunning: Type.Optional(Type.Boolean({ description: 'false when the file changed since it was loaded (a reload has not picked it up yet)' })),
})

const Applied = Type.Object({
  file: Type.String({ description: 'the file written or removed, relative to the manifests folder' }),
  added: Type.Array(Type.String()),
  changed: Type.Array(Type.String()),
  removed: Type.Array(Type.String()),
})

const NameParam = Type.Object({ name: Type.String({ pattern: PIPELINE_NAME_PATTERN, maxLength: PIPELINE_NAME_MAX_LENGTH }) })

const DocumentBody = Type.String({ description: 'a `kind: Pipeline` manifest as YAML (application/yaml, text/yaml) or JSON (application/json)' })

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

/** `GET/PUT/DELETE /v1/pipelines/:name`, `GET /v1/pipelines`, `POST /v1/pipelines/validate`. */
export async function pipelineRoutes(app: ApiApp, { deps }: RouteOptions): Promise<void> {
  const store = createPipelineStore(deps)
  // scoped to this plugin: pipeline documents stay text, so problems can point at line:col
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(BODY_TYPES, { parseAs: 'string' }, (_request, body, done) => done(null, body))

  const find = (name: string): CompiledPipeline => {
    const p = deps.fabric.pipelines().find((x) => x.name === name)
    if (!p) throw omniError('OMNI_ERR_NOT_FOUND', `no pipeline "${name}" is loaded`)
    return p
  }
  const worker = (name: string) => deps.fabric.workers().find((w) => w.name === name)

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
    async () => ({ pipelines: deps.fabric.pipelines().map((p) => summarize(p, worker(p.name), store)) }),
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
    async (request) => {
      const p = find(request.params.name)
      return { ...summarize(p, worker(p.name), store), ...(await onDisk(p)) }
    },
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
    async (request) => store.validate(request.body, request.headers['content-type']),
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
    async (request) => store.apply(request.params.name, request.body, request.headers['content-type']),
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
    async (request) => store.remove(request.params.name),
  )
}

function summarize(p: CompiledPipeline, worker: PipelineWorker | undefined, store: PipelineStore) {
  return {
    name: p.name,
    description: p.description,
    file: store.display(p.file),
    fingerprint: p.fingerprint,
    sources: [...p.sources],
    stages: p.levels.flatMap((level, i) =>
      level.map((s) => ({ id: s.id, uses: s.uses, needs: [...s.needs], level: i, conditional: s.when !== undefined, onError: s.onError, timeoutMs: s.timeoutMs, additive: s.additive })),
    ),
    outputs: p.outputs.map((o) => ({ ...(o.subject ? { subject: o.subject } : { fanout: 'catalog' as const }), conditional: o.when !== undefined, transforms: o.transforms.length })),
    errorPolicy: { maxDeliveries: p.maxDeliveries, backoffMs: [...p.backoffMs] },
    ...(worker ? { worker: { state: worker.state, ...worker.stats() } } : {}),
  }
}

/** The pipeline's file as it is now, and whether it still holds the running version. */
async function onDisk(p: CompiledPipeline): Promise<{ yaml?: string; yamlMatchesRunning?: boolean }> {
  const yaml = await readFile(p.file, 'utf8').catch(() => undefined)
  if (yaml === undefined) return {}
  let fingerprint: string | undefined
  try {
    // the same hash the compiler takes, so an edit that changes nothing but layout still matches
    fingerprint = stableHash(JSON.stringify(parseYamlManifest(p.file, yaml).value))
  } catch {
    fingerprint = undefined
  }
  return { yaml, yamlMatchesRunning: fingerprint === p.fingerprint }
}
