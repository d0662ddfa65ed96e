import Type, { type Static } from 'typebox'
import type { EventCatalog } from '../catalog/catalog.ts'
import type { Problem } from '../errors/mod.ts'
import { reservedTypeMessage } from '../pipeline/admission.ts'
import { checkAgainstSchema, problemAt } from '../yaml/check.ts'
import type { YamlManifest } from '../yaml/yaml.ts'
import { AUTH_TYPES, DEFAULT_HEADERS, DEFAULT_TIMESTAMP_HEADER, ed25519Key, type CompiledWebhookAuth } from './auth.ts'
import { discordAdapter } from './discord.ts'
import { evolutionAdapter } from './evolution.ts'
import { createGenericAdapter, type GenericMapping } from './generic.ts'
import type { WebhookAdapter } from './types.ts'

export const ADAPTERS = ['evolution', 'discord', 'generic'] as const

const FieldSource = Type.Union([Type.String({ minLength: 1 }), Type.Object({ const: Type.Unknown() }, { additionalProperties: false })])

const MappingSchema = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    items: Type.Optional(Type.String({ minLength: 1 })),
    events: Type.Record(
      Type.String({ minLength: 1 }),
      Type.Object(
        {
          type: Type.String({ minLength: 1 }),
          data: Type.Record(Type.String({ minLength: 1 }), FieldSource),
          time: Type.Optional(Type.String({ minLength: 1 })),
          actor: Type.Optional(Type.String({ minLength: 1 })),
          conversation: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

export const WebhookSourceSchema = Type.Object(
  {
    kind: Type.Literal('WebhookSource'),
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }),
    adapter: Type.Union(ADAPTERS.map((a) => Type.Literal(a))),
    description: Type.Optional(Type.String()),
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    instances: Type.Optional(Type.Array(Type.String({ pattern: '^(\\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,127})$' }), { minItems: 1 })),
    auth: Type.Optional(
      Type.Object(
        {
          type: Type.Union(AUTH_TYPES.map((a) => Type.Literal(a))),
          header: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$' })),
          timestampHeader: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$', description: 'hmac-sha256-timestamped: the header with the signed Unix time' })),
          encoding: Type.Optional(Type.Union([Type.Literal('hex'), Type.Literal('base64')])),
          secretEnv: Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$', description: 'the environment variable holding the secret (never the secret itself)' }),
        },
        { additionalProperties: false },
      ),
    ),
    mapping: Type.Optional(MappingSchema),
  },
  { additionalProperties: false },
)

type SourceSpec = Static<typeof WebhookSourceSchema>

/** A compiled webhook source: which adapter reads it, for which instances, and how it authenticates. */
export interface WebhookSource {
  readonly name: string
  readonly adapter: WebhookAdapter
  readonly tenant: string
  readonly instances: readonly string[] | 'any'
  /** absent: deliveries need a bearer token with the ingest scope instead */
  readonly auth?: CompiledWebhookAuth
  readonly declaredAt: string
}

const BUILT_IN: Record<string, WebhookAdapter> = { evolution: evolutionAdapter, discord: discordAdapter }

/** Validates a `kind: WebhookSource` manifest against its schema, the catalog and the environment. */
export function compileWebhookSource(manifest: YamlManifest, catalog: EventCatalog, env: NodeJS.ProcessEnv = process.env): { source?: WebhookSource; problems: Problem[] } {
  const problems = checkAgainstSchema(manifest, WebhookSourceSchema, manifest.value)
  if (problems.length > 0) return { problems }
  const spec = manifest.value as SourceSpec
  let adapter = BUILT_IN[spec.adapter]
  if (spec.adapter === 'generic') {
    if (!spec.mapping) problems.push(problemAt(manifest, ['adapter'], 'the generic adapter needs a mapping: (type, events)'))
    else {
      checkMapping(manifest, spec.mapping, catalog, problems)
      adapter = createGenericAdapter(spec.mapping as GenericMapping)
    }
  } else if (spec.mapping) problems.push(problemAt(manifest, ['mapping'], `only the generic adapter takes a mapping; ${spec.adapter} knows its provider's events`))
  const auth = spec.auth ? compileAuth(manifest, spec.auth, env, problems) : undefined
  if (problems.length > 0 || !adapter) return { problems }
  const instances = !spec.instances || spec.instances.includes('*') ? 'any' : spec.instances
  // The signature covers the timestamp and the body, not the URL: a captured delivery sent again
  // under another instance name would be a new delivery (new keys, new ids) that no duplicate
  // window drops, and the promise that a replay is refused after 5 minutes would not hold.
  const signsTime = spec.auth?.type === 'hmac-sha256-timestamped' || spec.auth?.type === 'ed25519'
  if (signsTime && instances === 'any') {
    const where = spec.instances ? ['instances'] : ['auth', 'type']
    return { problems: [problemAt(manifest, where, `${spec.auth?.type} signs the timestamp and the body, not the instance in the URL: list the instances it accepts (instances: [main]) so a replay cannot come back under another instance name`)] }
  }
  return {
    problems,
    source: { name: spec.name, adapter, tenant: spec.tenant ?? 'default', instances, ...(auth ? { auth } : {}), declaredAt: manifest.locate([]) },
  }
}

function checkMapping(manifest: YamlManifest, mapping: NonNullable<SourceSpec['mapping']>, catalog: EventCatalog, problems: Problem[]): void {
  for (const [providerType, m] of Object.entries(mapping.events)) {
    const at = ['mapping', 'events', providerType]
    const entry = catalog.get(m.type)
    if (!entry) {
      problems.push(problemAt(manifest, [...at, 'type'], `"${m.type}" is not a catalog event type (known: ${catalog.entries.map((e) => e.type).join(', ') || 'none'})`))
      continue
    }
    if (entry.reserved !== undefined) {
      problems.push(problemAt(manifest, [...at, 'type'], `${reservedTypeMessage(m.type, entry.reserved)}; a webhook cannot raise it`))
      continue
    }
    // a mapping that leaves out a required field would turn every such event into provider.unknown
    const missing = entry.requiredFields.filter((f) => !(f in m.data))
    if (missing.length > 0) problems.push(problemAt(manifest, [...at, 'data'], `${m.type} requires ${missing.join(', ')}; map each (a path, or { const: value })`))
    const declared = entry.dataFields
    if (declared === undefined) continue
    for (const field of Object.keys(m.data)) {
      if (!declared.includes(field)) problems.push(problemAt(manifest, [...at, 'data', field], `${m.type} has no data field "${field}" (it has ${declared.join(', ')})`))
    }
  }
}

function compileAuth(manifest: YamlManifest, auth: NonNullable<SourceSpec['auth']>, env: NodeJS.ProcessEnv, problems: Problem[]): CompiledWebhookAuth | undefined {
  const secret = env[auth.secretEnv]
  if (!secret) {
    problems.push(problemAt(manifest, ['auth', 'secretEnv'], `the environment variable ${auth.secretEnv} is not set (it holds the ${auth.type} secret)`))
    return undefined
  }
  const hmac = auth.type === 'hmac-sha256' || auth.type === 'hmac-sha256-timestamped'
  if (auth.encoding !== undefined && !hmac) problems.push(problemAt(manifest, ['auth', 'encoding'], 'only hmac-sha256 and hmac-sha256-timestamped take an encoding'))
  if (auth.timestampHeader !== undefined && auth.type !== 'hmac-sha256-timestamped') problems.push(problemAt(manifest, ['auth', 'timestampHeader'], 'only hmac-sha256-timestamped takes a timestampHeader'))
  switch (auth.type) {
    case 'ed25519':
      if (!/^[0-9a-f]{64}$/i.test(secret)) {
        problems.push(problemAt(manifest, ['auth', 'secretEnv'], `${auth.secretEnv} must hold the application's public key as 64 hex characters`))
        return undefined
      }
      return { type: 'ed25519', key: ed25519Key(secret) }
    case 'hmac-sha256':
      return { type: 'hmac-sha256', header: (auth.header ?? DEFAULT_HEADERS['hmac-sha256']).toLowerCase(), encoding: auth.encoding ?? 'hex', secret }
    case 'hmac-sha256-timestamped':
      return {
        type: 'hmac-sha256-timestamped',
        header: (auth.header ?? DEFAULT_HEADERS['hmac-sha256-timestamped']).toLowerCase(),
        timestampHeader: (auth.timestampHeader ?? DEFAULT_TIMESTAMP_HEADER).toLowerCase(),
        encoding: auth.encoding ?? 'hex',
        secret,
      }
    case 'shared-secret':
    case 'evolution-apikey':
      return { type: auth.type, header: (auth.header ?? DEFAULT_HEADERS[auth.type]).toLowerCase(), secret }
  }
}
